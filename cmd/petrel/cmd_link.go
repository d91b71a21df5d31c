package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/petrel-chat/petrel/node"
	"github.com/petrel-chat/petrel/node/store"
)

// initLinked is petrel init --link LINK (docs/API.md §8): the new device joins the account
// that issued the link and receives its history. name is the device's name in the account's
// list (the host name when none is given).
func initLinked(ctx context.Context, env *cliEnv, dir string, pass []byte, name, link string, relays []string, opts store.Options) error {
	if name == "" {
		name, _ = os.Hostname()
	}
	n, err := node.InitLinked(ctx, dir, pass, name, link, opts, node.LinkOptions{Relays: relays})
	switch {
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%s already holds a petrel node", dir)
	case errors.Is(err, node.ErrLinkRefused):
		return fmt.Errorf("%w; nothing was created in %s", err, dir)
	case err != nil && n > 0:
		return fmt.Errorf("%w\nthe device is linked; start it with: petrel run --data %s", err, dir)
	case err != nil:
		return err
	}
	fmt.Fprintf(env.stdout, "Linked %s to your account as %q, with %d history records.\nStart it with: petrel run --data %s\n", dir, name, n, dir)
	return nil
}
