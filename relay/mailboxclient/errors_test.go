package mailboxclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/petrel-chat/petrel/relay/relaywire"
)

// TestEveryRefusalCodeHasASentinel: each code the relay can send maps to its own errors.Is
// sentinel (and to ErrRefused); an unknown code is still ErrRefused; the message shows the
// code's name and the relay's words.
func TestEveryRefusalCodeHasASentinel(t *testing.T) {
	seen := map[error]relaywire.Code{}
	for _, c := range relaywire.Codes() {
		if c == relaywire.OK {
			continue
		}
		err := error(&RefusedError{Code: c, Message: "because"})
		s := sentinel(c)
		if s == nil {
			t.Errorf("code %s has no sentinel", c)
			continue
		}
		if prev, dup := seen[s]; dup {
			t.Errorf("codes %s and %s share a sentinel", prev, c)
		}
		seen[s] = c
		if !errors.Is(err, s) || !errors.Is(err, ErrRefused) {
			t.Errorf("code %s: errors.Is fails", c)
		}
		for other, oc := range seen {
			if oc != c && errors.Is(err, other) {
				t.Errorf("code %s matches the sentinel of %s", c, oc)
			}
		}
		if msg := err.Error(); !strings.Contains(msg, c.String()) || !strings.Contains(msg, "because") {
			t.Errorf("message %q", msg)
		}
	}
	unknown := &RefusedError{Code: 200}
	if !errors.Is(unknown, ErrRefused) || errors.Is(unknown, ErrQuotaBytes) {
		t.Errorf("unknown code: %v", unknown)
	}
	if err := refusal(relaywire.Result{Code: relaywire.OK}); !errors.Is(err, ErrProtocol) {
		t.Errorf("an OK as refusal: %v", err)
	}
}
