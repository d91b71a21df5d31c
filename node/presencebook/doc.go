// Package presencebook answers what node/presence asks of the address book and the groups
// (presence.Book) from the store: the contacts as presence sees them, who shares a group
// with us, and the peers a typing signal goes to. It sits on the façade floor because it
// reads both node/contacts and node/groups, which presence (a feature) may not import.
//
// Store keys: none of its own; it reads node/contacts', node/history's conversations and
// node/groups' group records.
package presencebook
