package messenger

import "github.com/petrel-chat/petrel/node/inbox"

// maxAhead bounds the sequence numbers remembered beyond a gap (inbox.MaxAhead), under the
// name the group receive path uses.
const maxAhead = inbox.MaxAhead
