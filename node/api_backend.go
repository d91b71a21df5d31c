package node

import (
	"time"

	"context"

	"github.com/petrel-chat/petrel/node/api"
	"github.com/petrel-chat/petrel/node/localapi"
	"github.com/petrel-chat/petrel/node/messenger"
)

// apiBackend is the local API's backend (localapi.Backend and localapi.Push): each request
// of docs/API.md lands on one method here, which names the part of the node that serves it —
// the node itself (profile, status, events, push) or the messenger (contacts, conversations,
// messages, groups). Send, for one, is apiBackend.Send → messenger.(*Messenger).Send.
type apiBackend struct{ n *Node }

var (
	_ localapi.Backend = apiBackend{}
	_ localapi.Push    = apiBackend{}
	_ localapi.Devices = apiBackend{}
)

func (b apiBackend) m() *messenger.Messenger { return b.n.msg }

// The node's own part (backend.go, push_backend.go).

func (b apiBackend) Me(ctx context.Context) (api.Me, error) { return b.n.Me(ctx) }
func (b apiBackend) UpdateMe(ctx context.Context, p api.MePatch) (api.Me, error) {
	return b.n.UpdateMe(ctx, p)
}
func (b apiBackend) Status(ctx context.Context) (api.Status, error) { return b.n.Status(ctx) }
func (b apiBackend) Events() localapi.EventSource                   { return liveEvents{b.n.ev, b.Message} }

func (b apiBackend) CreatePushRegistration(ctx context.Context, req api.PushRegistrationRequest) (api.PushRegistration, bool, error) {
	return b.n.CreatePushRegistration(ctx, req)
}
func (b apiBackend) PushRegistrations(ctx context.Context) ([]api.PushRegistration, error) {
	return b.n.PushRegistrations(ctx)
}
func (b apiBackend) DeletePushRegistration(ctx context.Context, id string) error {
	return b.n.DeletePushRegistration(ctx, id)
}
func (b apiBackend) PushSettings(ctx context.Context) (api.PushSettings, error) {
	return b.n.PushSettings(ctx)
}
func (b apiBackend) UpdatePushSettings(ctx context.Context, p api.PushSettings) (api.PushSettings, error) {
	return b.n.UpdatePushSettings(ctx, p)
}
func (b apiBackend) MuteConversation(ctx context.Context, convID string, until *int64) (api.Conversation, error) {
	return b.n.MuteConversation(ctx, convID, until)
}

// The messenger's part (node/messenger): contacts (contacts.go), conversations and
// messages (history.go, send.go), ephemeral frames (presence.go), groups (group*.go).

func (b apiBackend) CreateInvite(ctx context.Context) (api.Invite, error) {
	return b.m().CreateInvite(ctx)
}
func (b apiBackend) AddContact(ctx context.Context, link string, name *string) (api.Contact, bool, error) {
	return b.m().AddContact(ctx, link, name)
}
func (b apiBackend) Contacts(ctx context.Context) ([]api.Contact, error) {
	return b.m().Contacts(ctx)
}
func (b apiBackend) Contact(ctx context.Context, id string) (api.Contact, error) {
	return b.m().Contact(ctx, id)
}
func (b apiBackend) UpdateContact(ctx context.Context, id string, p api.ContactPatch) (api.Contact, error) {
	return b.m().UpdateContact(ctx, id, p)
}
func (b apiBackend) Conversations(ctx context.Context, cursor string, limit int) (api.ConversationPage, error) {
	return b.m().Conversations(ctx, cursor, limit)
}
func (b apiBackend) Conversation(ctx context.Context, id string) (api.Conversation, error) {
	return b.m().Conversation(ctx, id)
}
func (b apiBackend) Messages(ctx context.Context, convID, before, after string, limit int) (api.MessagePage, error) {
	return b.m().Messages(ctx, convID, before, after, limit)
}
func (b apiBackend) Message(ctx context.Context, id string) (api.Message, error) {
	return b.m().Message(ctx, id)
}
func (b apiBackend) Send(ctx context.Context, req api.SendRequest) (api.Message, bool, error) {
	return b.m().Send(ctx, req)
}
func (b apiBackend) MarkRead(ctx context.Context, convID, upTo string) error {
	return b.m().MarkRead(ctx, convID, upTo)
}
func (b apiBackend) Edit(ctx context.Context, id, body string) (api.Message, error) {
	return b.m().Edit(ctx, id, body)
}
func (b apiBackend) Delete(ctx context.Context, id string, forEveryone bool) (api.Message, error) {
	return b.m().Delete(ctx, id, forEveryone)
}
func (b apiBackend) React(ctx context.Context, id, emoji string, remove bool) (api.Message, error) {
	return b.m().React(ctx, id, emoji, remove)
}
func (b apiBackend) Search(ctx context.Context, q, convID string, limit int) ([]api.Message, error) {
	return b.m().Search(ctx, q, convID, limit)
}
func (b apiBackend) Settings(ctx context.Context) (api.Settings, error) {
	return b.m().Settings(ctx)
}
func (b apiBackend) UpdateSettings(ctx context.Context, p api.SettingsPatch) (api.Settings, error) {
	return b.m().UpdateSettings(ctx, p)
}
func (b apiBackend) Typing(ctx context.Context, convID, state string) error {
	return b.m().Typing(ctx, convID, state)
}
func (b apiBackend) Subscribe() (<-chan []byte, func()) { return b.m().Subscribe() }

func (b apiBackend) CreateGroup(ctx context.Context, name string, members []string) (api.Conversation, error) {
	return b.m().CreateGroup(ctx, name, members)
}
func (b apiBackend) ChangeMembers(ctx context.Context, id string, add, remove []string) (api.Conversation, error) {
	return b.m().ChangeMembers(ctx, id, add, remove)
}
func (b apiBackend) SetRole(ctx context.Context, id string, users []string, role string) (api.Conversation, error) {
	return b.m().SetRole(ctx, id, users, role)
}
func (b apiBackend) LeaveGroup(ctx context.Context, id string) (api.Conversation, error) {
	return b.m().LeaveGroup(ctx, id)
}
func (b apiBackend) RenameGroup(ctx context.Context, id, name string) (api.Conversation, error) {
	return b.m().RenameGroup(ctx, id, name)
}
func (b apiBackend) GroupChanges(ctx context.Context, id string) ([]api.GroupChange, error) {
	return b.m().GroupChanges(ctx, id)
}
func (b apiBackend) MessageReceipts(ctx context.Context, msgID string) ([]api.MemberReceipt, error) {
	return b.m().MessageReceipts(ctx, msgID)
}

// SetDisappear is the disappearing-messages part of the API (localapi.Backend,
// node/messenger expiry.go, node/expiry).
func (b apiBackend) SetDisappear(ctx context.Context, convID string, secs int64) (api.Conversation, error) {
	return b.m().SetDisappear(ctx, convID, secs)
}

// Expiring invites (localapi.Invites; messenger invites.go).
func (b apiBackend) CreateInviteFor(ctx context.Context, ttl time.Duration) (api.Invite, error) {
	return b.m().CreateInviteFor(ctx, ttl)
}
func (b apiBackend) Invites(ctx context.Context) ([]api.Invite, error) { return b.m().Invites(ctx) }
func (b apiBackend) RevokeInvite(ctx context.Context, id string) error {
	return b.m().RevokeInvite(ctx, id)
}

// Linked devices (devices_backend.go).

func (b apiBackend) LinkDevice(ctx context.Context) (api.DeviceLink, error) {
	return b.n.LinkDevice(ctx)
}
func (b apiBackend) Devices(ctx context.Context) (api.DeviceList, error) { return b.n.Devices(ctx) }
func (b apiBackend) RevokeDevice(ctx context.Context, id string) error {
	return b.n.RevokeDevice(ctx, id)
}
