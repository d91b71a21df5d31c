// Package hlc owns petrel's message timestamps: a hybrid logical clock (HLC,
// Kulkarni, Demirbas et al., "Logical Physical Clocks", 2014) and the
// conversation sort key built from it, so that every member of a conversation
// sorts its messages in the same total order, and a message always sorts after
// every message its sender had seen when sending it.
//
// # API
//
//	type Timestamp struct{ Wall int64; Logical uint32 }
//	func (Timestamp) Compare(Timestamp) int
//	func (Timestamp) IsZero() bool
//	func (Timestamp) Valid() bool
//	func (Timestamp) Time() time.Time
//	func (Timestamp) String() string     // 20 lowercase hex digits
//	func Parse(s string) (Timestamp, error)
//
//	func New(now func() time.Time) *Clock
//	func (*Clock) Now() Timestamp                         // send or local event
//	func (*Clock) Observe(remote Timestamp) (Timestamp, error) // receive event
//	func (*Clock) Restore(last Timestamp)                 // after a restart
//	func (*Clock) Last() Timestamp
//
//	func OrderKey(ts Timestamp, tiebreak string) string
//	func ParseOrderKey(key string) (Timestamp, string, error)
//
// # Clock
//
// A Timestamp is (l, c): l = Wall, the greatest wall-clock time in Unix
// milliseconds the clock has heard of, and c = Logical, a counter that orders
// events within one l. With pt the local wall clock, the clock's state (l, c)
// advances as in the paper:
//
//	local or send event:   l' = max(l, pt)
//	                       c' = c+1 if l' == l, else 0
//	receive (l_m, c_m):    l' = max(l, l_m, pt)
//	                       c' = max(c, c_m)+1  if l' == l == l_m
//	                            c+1            if l' == l only
//	                            c_m+1          if l' == l_m only
//	                            0              otherwise
//
// Now and Observe therefore return a timestamp strictly greater than every
// timestamp the clock returned, observed or was restored to, even when the wall
// clock steps backwards. When c would overflow its 32 bits, l is advanced by one
// millisecond and c restarts at 0, which keeps the order strict.
//
// A remote timestamp more than MaxDrift ahead of pt is refused (ErrDrift) and
// leaves the clock unchanged: one node with a wrong clock, or a malicious one,
// cannot drag every clock it talks to into the future. A node whose own wall
// clock is more than MaxDrift slow refuses honest peers the same way until its
// clock is corrected.
//
// Wall is limited to [0, MaxWall] (48 bits, enough until the year 10889), the
// range the text form can hold; the wall clock is clamped to it.
//
// # Text form and order key
//
// String writes Wall as 12 and Logical as 8 lowercase hex digits, 20 characters
// in all, so comparing two strings compares the timestamps:
//
//	Timestamp{Wall: 1700000000000, Logical: 1}  →  "018bcfe5680000000001"
//
// Parse accepts exactly that form (no upper case, no sign, no other length).
//
// The order key of a message is
//
//	OrderKey = String(ts) ‖ "-" ‖ tiebreak
//
// where the tiebreak is a string unique per message and the same on every node
// (the node uses the sender's user ID ‖ "-" ‖ message UUID). The timestamp part
// has a fixed width, so comparing two keys as byte strings compares
// (timestamp, tiebreak) lexicographically: two messages with equal timestamps
// (sent concurrently on two nodes) are ordered by their tiebreaks, identically
// everywhere.
//
// # Concurrency
//
// A Clock is safe for concurrent use. The zero Clock is usable and reads
// time.Now.
package hlc
