package groupmail

import "testing"

// The store keys are the first release's, byte for byte: a node upgraded in place makes
// the deposits it had left.
func TestStoreKeysAreUnchanged(t *testing.T) {
	if got := string(kGroupDeposit(258)); got != "gd/0000000000000102" {
		t.Errorf("deposit key %q", got)
	}
	if got := string(kGroupDepositNext); got != "gdn" {
		t.Errorf("deposit counter key %q", got)
	}
}
