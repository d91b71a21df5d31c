package node

import (
	"context"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/petrel-chat/petrel/node/media"
	"github.com/petrel-chat/petrel/node/store"
)

// Media is the node's media store (attachments, docs/API.md §6): what the local API's media
// endpoints and tests read and write.
func (n *Node) Media() *media.Store { return n.media }

// MediaManifest is the manifest of an available media id (media.Store.Manifest).
func (n *Node) MediaManifest(id string) (media.Manifest, error) {
	var mf media.Manifest
	err := n.st.View(func(tx *store.Tx) error {
		var err error
		mf, err = n.media.Manifest(tx, id)
		return err
	})
	return mf, err
}

// Host is the node's libp2p host while it runs (nil otherwise).
func (n *Node) Host() host.Host { return n.hostOrNil() }

// FetchMedia starts the download of a received media id not yet here
// (messenger.Messenger.FetchMedia): what a UI's first GET of a large file does.
func (n *Node) FetchMedia(ctx context.Context, id string) error { return n.msg.FetchMedia(ctx, id) }
