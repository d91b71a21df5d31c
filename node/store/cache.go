package store

// readCache holds the plaintext of records the writer read or committed recently, so an
// Update function reading a hot record (a conversation, a ratchet state, the event log's
// counter, a message written a moment ago) skips Badger's lookup and the record AEAD.
//
// Only the writer goroutine touches it: Update functions run there (reads), and so does
// Landed (writes, after their commit is durable). Its content is therefore always a
// subset of the state every group's Badger transaction sees: a group's transaction was
// opened after every group that landed before it ran, and the writes of the group still
// syncing are read from its layer first. It never holds what did not land. Views, which
// run on other goroutines, do not use it. It lives in memory only; Close drops it.
// readCacheBytes bounds the read cache's values (4 MiB: a node's hot records several
// times over).
const readCacheBytes = 4 << 20

type readCache struct {
	max   int // bytes of values at most
	size  int
	m     map[string][]byte
	order []string // insertion order, for eviction; may name keys since dropped or re-put
}

func newReadCache(max int) *readCache {
	return &readCache{max: max, m: make(map[string][]byte)}
}

// get returns key's cached plaintext (the cache's own slice: copy before handing it out).
func (c *readCache) get(key []byte) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	v, ok := c.m[string(key)]
	return v, ok
}

// put caches v (which the cache now owns) as key's value.
func (c *readCache) put(key []byte, v []byte) {
	if c == nil || len(v) > c.max/16 {
		c.del(key)
		return
	}
	k := string(key)
	if old, ok := c.m[k]; ok {
		c.size -= len(old)
	} else {
		c.order = append(c.order, k)
	}
	c.m[k] = v
	c.size += len(v)
	for c.size > c.max && len(c.order) > 0 {
		e := c.order[0]
		c.order = c.order[1:]
		if old, ok := c.m[e]; ok {
			c.size -= len(old)
			delete(c.m, e)
		}
	}
	if len(c.order) > 4*len(c.m)+64 { // compact the stale names
		fresh := make([]string, 0, len(c.m))
		seen := make(map[string]bool, len(c.m))
		for _, e := range c.order {
			if _, ok := c.m[e]; ok && !seen[e] {
				seen[e] = true
				fresh = append(fresh, e)
			}
		}
		c.order = fresh
	}
}

// del forgets key.
func (c *readCache) del(key []byte) {
	if c == nil {
		return
	}
	if old, ok := c.m[string(key)]; ok {
		c.size -= len(old)
		delete(c.m, string(key))
	}
}

// landed records a landed function's writes.
func (c *readCache) landed(ops []op) {
	if c == nil {
		return
	}
	for _, o := range ops {
		if o.del {
			c.del(o.key)
		} else {
			c.put(o.key, o.plain)
		}
	}
}

// reset empties the cache (after a failed commit). Its values may still be shared with
// the layer of a group in flight, so they are dropped, not zeroed.
func (c *readCache) reset() {
	if c == nil {
		return
	}
	c.m = make(map[string][]byte)
	c.order, c.size = nil, 0
}

// drop empties the cache and zeroes its values (Close: nothing runs any more).
func (c *readCache) drop() {
	if c == nil {
		return
	}
	for _, v := range c.m {
		clear(v)
	}
	c.reset()
}
