package wire

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/petrel-chat/petrel/crypto/identity"
	"github.com/petrel-chat/petrel/sync/hlc"
)

// LiveProtocol carries ephemeral signals (presence heartbeats, typing) between contacts.
const LiveProtocol = "/petrel/live/1.0.0"

// Group operation kinds.
const (
	OpCreate = "create" // Name, Members (the author is among them as admin), Secret, Max
	OpAdd    = "add"    // Members join as members
	OpRemove = "remove" // Users leave the group
	OpLeave  = "leave"  // the author leaves
	OpRename = "rename" // Name
	OpRole   = "role"   // Users get Role
	// OpDisappear sets the disappearing-message timer to Disappear seconds (0: off; else
	// MinDisappear to MaxDisappear); admins only, the latest wins, as for a rename.
	OpDisappear = "disappear"
)

// Group limits (specification constants: every member enforces the same ones).
const (
	// MaxGroupOp bounds one signed group operation (a 500-member create fits).
	MaxGroupOp = 384 << 10
	// MaxGroupMembers is the hard ceiling of any group's cap (the create op's Max).
	MaxGroupMembers = 2000
	// MaxGroupOps bounds the operations carried in one gops content.
	MaxGroupOps = 256
	// MaxGroupName bounds a group name.
	MaxGroupName = 128
	// GroupSecretSize is the size of the topic secret.
	GroupSecretSize = 32
	// MaxEnvelope bounds a group envelope (GossipSub message).
	MaxEnvelope = 256 << 10
	// GroupOpVersion is the first byte of a signed group operation.
	GroupOpVersion = 0x01
	// EnvelopeVersion is the first byte of a group envelope.
	EnvelopeVersion = 0x01
	// groupIDLabel and topicLabel separate the hashes that name a group and its topic.
	groupIDLabel = "petrel_v1_group_id\x00"
	topicLabel   = "petrel_v1_group_topic\x00"
	sigSize      = 64
)

// GroupMember is one member as group state carries it: enough for every other member to
// reach it and set up a pairwise session (as an invite would), and its role.
type GroupMember struct {
	UserID   string   `json:"user_id"`
	Identity []byte   `json:"identity"` // identity.PublicIdentity wire form
	Role     string   `json:"role"`
	Name     string   `json:"name"`
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`
	Relays   []string `json:"relays"`
}

// GroupOp is one change of a group's state, signed by its author's identity key.
type GroupOp struct {
	Group   string        `json:"group"` // "" in the create op: the group id derives from it
	ID      string        `json:"id"`
	TS      string        `json:"ts"`
	Author  string        `json:"author"`
	Kind    string        `json:"kind"`
	Name    string        `json:"name,omitempty"`
	Members []GroupMember `json:"members,omitempty"`
	Users   []string      `json:"users,omitempty"`
	Role    string        `json:"role,omitempty"`
	Secret  []byte        `json:"secret,omitempty"`
	Max     int           `json:"max,omitempty"`
	// Disappear is OpDisappear's timer (seconds; absent: off).
	Disappear int64 `json:"disappear,omitempty"`
}

// SignedGroupOp is a parsed signed operation: the op, and the exact bytes signed.
type SignedGroupOp struct {
	Op   *GroupOp
	Raw  []byte // the whole signed form
	body []byte // the JSON signed
	sig  []byte
}

// SignGroupOp encodes op and signs it with the author's identity:
//
//	0x01 ‖ uvarint len(body) ‖ body (JSON) ‖ Ed25519(DomainGroupState ‖ body) (64)
func SignGroupOp(id *identity.Identity, op *GroupOp) ([]byte, error) {
	if err := op.check(); err != nil {
		return nil, err
	}
	body, err := json.Marshal(op)
	if err != nil {
		return nil, err
	}
	return signJSON(id, identity.DomainGroupState, GroupOpVersion, MaxGroupOp, "group operation", body)
}

// ParseGroupOp decodes a signed operation strictly. It does not check the signature: the
// signer's key comes from group state (VerifyGroupOp).
func ParseGroupOp(b []byte) (*SignedGroupOp, error) {
	body, sig, err := splitSigned(b, GroupOpVersion, MaxGroupOp, "group operation")
	if err != nil {
		return nil, err
	}
	var op GroupOp
	if err := strictJSON(body, &op); err != nil {
		return nil, err
	}
	if err := op.check(); err != nil {
		return nil, err
	}
	return &SignedGroupOp{Op: &op, Raw: b, body: body, sig: sig}, nil
}

// Verify checks the signature under the author's public identity.
func (s *SignedGroupOp) Verify(author *identity.PublicIdentity) bool {
	return string(author.UserID()) == s.Op.Author && author.Verify(identity.DomainGroupState, s.body, s.sig)
}

// CreatedGroupID is the id of the group a create operation founds: a hash of its signed
// body, so no one can found another group under the same id.
func (s *SignedGroupOp) CreatedGroupID() string {
	sum := sha256.Sum256(append([]byte(groupIDLabel), s.body...))
	return "g" + hex.EncodeToString(sum[:16])
}

// GroupTopic is the GossipSub topic of a group: a hash of its secret, which tells someone
// who sees it nothing about the group or its members.
func GroupTopic(secret []byte) string {
	sum := sha256.Sum256(append([]byte(topicLabel), secret...))
	return "/petrel/g/1/" + hex.EncodeToString(sum[:16])
}

func (op *GroupOp) check() error {
	bad := func(f string, a ...any) error {
		return fmt.Errorf("%w: group operation: "+f, append([]any{ErrMalformed}, a...)...)
	}
	if (op.Group != "" || op.Kind != OpCreate) && !validID(op.Group) {
		return bad("group id")
	}
	if !validID(op.ID) || !validID(op.Author) {
		return bad("id or author")
	}
	if _, err := hlc.Parse(op.TS); err != nil {
		return bad("timestamp")
	}
	if len(op.Name) > MaxGroupName || !utf8.ValidString(op.Name) {
		return bad("name")
	}
	if len(op.Members) > MaxGroupMembers || len(op.Users) > MaxGroupMembers {
		return bad("too many members")
	}
	for i := range op.Members {
		if err := op.Members[i].check(); err != nil {
			return err
		}
	}
	for _, u := range op.Users {
		if !validID(u) {
			return bad("user id")
		}
	}
	switch op.Kind {
	case OpCreate:
		if op.Group != "" || len(op.Secret) != GroupSecretSize || op.Max < 2 || op.Max > MaxGroupMembers || len(op.Members) == 0 {
			return bad("create")
		}
	case OpAdd:
		if len(op.Members) == 0 {
			return bad("add without members")
		}
	case OpRemove:
		if len(op.Users) == 0 {
			return bad("remove without users")
		}
	case OpLeave:
	case OpRename:
		if op.Name == "" {
			return bad("rename without name")
		}
	case OpRole:
		if len(op.Users) == 0 || (op.Role != "admin" && op.Role != "member") {
			return bad("role")
		}
	case OpDisappear:
		if op.Disappear != 0 && (op.Disappear < MinDisappear || op.Disappear > MaxDisappear) {
			return bad("disappear timer")
		}
	default:
		return bad("unknown kind %.20q", op.Kind)
	}
	if op.Kind != OpCreate && (op.Secret != nil || op.Max != 0) {
		return bad("create fields outside create")
	}
	if op.Kind != OpDisappear && op.Disappear != 0 {
		return bad("a timer outside disappear")
	}
	return nil
}

func (m *GroupMember) check() error {
	bad := fmt.Errorf("%w: group member", ErrMalformed)
	if !validID(m.UserID) || (m.Role != "admin" && m.Role != "member") || len(m.Name) > MaxName ||
		!utf8.ValidString(m.Name) || m.PeerID == "" || len(m.PeerID) > 128 ||
		len(m.Addrs) > MaxAddrs || len(m.Relays) > MaxAddrs {
		return bad
	}
	pub, err := identity.ParsePublic(m.Identity)
	if err != nil || string(pub.UserID()) != m.UserID {
		return bad
	}
	for _, a := range append(append([]string{}, m.Addrs...), m.Relays...) {
		if a == "" || len(a) > MaxAddrLen {
			return bad
		}
	}
	return nil
}

// signJSON frames a signed JSON body: version ‖ uvarint len(body) ‖ body ‖ Ed25519(domain ‖
// body) (64), refusing a result over max.
func signJSON(id *identity.Identity, d identity.Domain, version byte, max int, what string, body []byte) ([]byte, error) {
	out := []byte{version}
	out = binary.AppendUvarint(out, uint64(len(body)))
	out = append(out, body...)
	out = append(out, id.Sign(d, body)...)
	if len(out) > max {
		return nil, fmt.Errorf("%w: %s of %d bytes, over %d", ErrTooLarge, what, len(out), max)
	}
	return out, nil
}

// splitSigned is signJSON's inverse: the body and signature of b, checked for its version,
// max and exact length (minimal framing: nothing before, between or after).
func splitSigned(b []byte, version byte, max int, what string) (body, sig []byte, err error) {
	if len(b) > max || len(b) < 2 || b[0] != version {
		return nil, nil, fmt.Errorf("%w: %s header", ErrMalformed, what)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || n > uint64(len(b)) || uint64(len(b)-1-k) != n+sigSize {
		return nil, nil, fmt.Errorf("%w: %s length", ErrMalformed, what)
	}
	return b[1+k : 1+k+int(n)], b[1+k+int(n):], nil
}

// strictJSON decodes one JSON object into v, refusing unknown fields and trailing data.
func strictJSON(b []byte, v any) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not UTF-8", ErrMalformed)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: trailing data", ErrMalformed)
	}
	return nil
}

// AppendEnvelope returns the GossipSub payload of a group message: 0x01 ‖ the Sender Keys
// message (crypto/senderkey). Nothing else travels in the clear: the sender is found from
// the distribution id, which only members can map to a member.
func AppendEnvelope(b, skmsg []byte) []byte {
	return append(append(b, EnvelopeVersion), skmsg...)
}

// ParseEnvelope returns the Sender Keys message inside a group envelope.
func ParseEnvelope(b []byte) ([]byte, error) {
	if len(b) < 2 || len(b) > MaxEnvelope || b[0] != EnvelopeVersion {
		return nil, fmt.Errorf("%w: group envelope", ErrMalformed)
	}
	return b[1:], nil
}

// GroupMailType is the first byte of a GroupMail: distinct from every frame type of
// /petrel/msg/1.0.0, so a sealed payload is never mistaken for a Deliver.
const GroupMailType = 0x05

// AppendGroupMail returns the payload of a shared sealed envelope (crypto/sealed
// SealBody) carrying a group envelope to members' mailboxes:
//
//	0x05 ‖ uvarint len(group id) ‖ group id (1..64, an id) ‖ group envelope (0x01 ‖ Sender Keys message)
func AppendGroupMail(b []byte, gid string, env []byte) []byte {
	b = append(b, GroupMailType)
	b = binary.AppendUvarint(b, uint64(len(gid)))
	b = append(b, gid...)
	return append(b, env...)
}

// ParseGroupMail parses a GroupMail; env aliases b.
func ParseGroupMail(b []byte) (gid string, env []byte, err error) {
	if len(b) < 2 || b[0] != GroupMailType {
		return "", nil, fmt.Errorf("%w: not group mail", ErrMalformed)
	}
	n, k := binary.Uvarint(b[1:])
	if k <= 0 || k != len(binary.AppendUvarint(nil, n)) || n == 0 || n > MaxIDLen || uint64(len(b)-1-k) < n {
		return "", nil, fmt.Errorf("%w: group mail id", ErrMalformed)
	}
	gid = string(b[1+k : 1+k+int(n)])
	if !validID(gid) {
		return "", nil, fmt.Errorf("%w: group mail id", ErrMalformed)
	}
	env = b[1+k+int(n):]
	if _, err := ParseEnvelope(env); err != nil {
		return "", nil, err
	}
	return gid, env, nil
}

// Live signal types.
const (
	LiveHeartbeat = "hb"     // I am online
	LiveHidden    = "hidden" // I stopped sharing presence: forget my last seen
	LiveTyping    = "typing" // Conv, State "start" | "stop"
)

// MaxLive bounds a live frame.
const MaxLive = 512

// Live is one ephemeral signal on LiveProtocol. The stream's Noise channel authenticates
// the sending peer; the receiver accepts it only from a contact's peer id.
type Live struct {
	Type  string `json:"t"`
	Conv  string `json:"conv,omitempty"`
	State string `json:"state,omitempty"`
}

// MarshalLive encodes l.
func MarshalLive(l *Live) ([]byte, error) {
	if err := l.check(); err != nil {
		return nil, err
	}
	return json.Marshal(l)
}

// ParseLive decodes a live frame strictly.
func ParseLive(b []byte) (*Live, error) {
	if len(b) > MaxLive {
		return nil, fmt.Errorf("%w: live frame of %d bytes", ErrMalformed, len(b))
	}
	var l Live
	if err := strictJSON(b, &l); err != nil {
		return nil, err
	}
	return &l, l.check()
}

func (l *Live) check() error {
	switch l.Type {
	case LiveHeartbeat, LiveHidden:
		if l.Conv != "" || l.State != "" {
			return fmt.Errorf("%w: live %s with fields", ErrMalformed, l.Type)
		}
	case LiveTyping:
		if !validID(l.Conv) || (l.State != "start" && l.State != "stop") {
			return fmt.Errorf("%w: live typing", ErrMalformed)
		}
	default:
		return fmt.Errorf("%w: live type %.20q", ErrMalformed, l.Type)
	}
	return nil
}

// Signed sender key distributions (the data of a gkey content).
const (
	// GroupKeyVersion is the first byte of a signed gkey payload. A payload whose first
	// byte is 0x01 is a bare distribution from an older node (OpenGroupKey).
	GroupKeyVersion = 0x02
	distSize        = 86 // crypto/senderkey distribution message
	legacyDist      = 0x01
)

// DomainGroupKey signs a gkey payload. It differs from the group state domain and from the
// group message domain of crypto/senderkey.
const DomainGroupKey identity.Domain = "petrel_v1_sig_gkey\x00"

// GroupKeyOwner is the owner bytes of a sender's chain in a group, to which the chain's
// distribution id is bound (crypto/senderkey NewSenderBound) and which a gkey signs:
//
//	uvarint len(group id) ‖ group id ‖ uvarint len(user id) ‖ user id
func GroupKeyOwner(gid, uid string) []byte {
	b := binary.AppendUvarint(nil, uint64(len(gid)))
	b = append(b, gid...)
	b = binary.AppendUvarint(b, uint64(len(uid)))
	return append(b, uid...)
}

// SignGroupKey returns the data of a gkey content: the sender's distribution for group
// gid, signed by the sender's identity:
//
//	0x02 ‖ distribution (86) ‖ Ed25519(DomainGroupKey ‖ GroupKeyOwner(gid, sender) ‖ distribution) (64)
func SignGroupKey(id *identity.Identity, gid string, dist []byte) []byte {
	msg := append(GroupKeyOwner(gid, string(id.Public().UserID())), dist...)
	out := append([]byte{GroupKeyVersion}, dist...)
	return append(out, id.Sign(DomainGroupKey, msg)...)
}

// OpenGroupKey returns the distribution in gkey data from sender for group gid. signed
// is false for a legacy payload (a bare distribution, unsigned: older nodes send those);
// a signed payload that does not verify under sender for gid is an error.
func OpenGroupKey(data []byte, gid string, sender *identity.PublicIdentity) (dist []byte, signed bool, err error) {
	switch {
	case len(data) == distSize && data[0] == legacyDist:
		return data, false, nil
	case len(data) != 1+distSize+sigSize || data[0] != GroupKeyVersion:
		return nil, false, fmt.Errorf("%w: group key of %d bytes", ErrMalformed, len(data))
	}
	dist = data[1 : 1+distSize]
	msg := append(GroupKeyOwner(gid, string(sender.UserID())), dist...)
	if !sender.Verify(DomainGroupKey, msg, data[1+distSize:]) {
		return nil, false, fmt.Errorf("%w: group key signature", ErrMalformed)
	}
	return dist, true, nil
}
