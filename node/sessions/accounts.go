package sessions

import (
	"github.com/petrel-chat/petrel/crypto/identity"
)

// maxAccounts bounds the verified account keys a Cache keeps (it starts over when full).
const maxAccounts = 1024

// Account is c's account key (AccountKey) parsed and verified by identity.ParsePublic.
// The result for the same bytes is remembered, so a send does not pay an Ed25519
// verification of the contact's key each time: only bytes that ParsePublic accepted are
// remembered, keyed by the whole 129-byte wire form (key and self-signature), so different
// bytes are always verified anew. The PublicIdentity returned is shared; it is immutable.
func (c *Cache) Account(ct *Contact) (*identity.PublicIdentity, error) {
	b := ct.AccountKey()
	c.mu.Lock()
	p, ok := c.accounts[string(b)]
	c.mu.Unlock()
	if ok {
		return p, nil
	}
	p, err := identity.ParsePublic(b)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.accounts == nil || len(c.accounts) >= maxAccounts {
		c.accounts = map[string]*identity.PublicIdentity{}
	}
	c.accounts[string(b)] = p
	return p, nil
}
