package webui

import (
	"embed"
	"io/fs"
)

//go:embed assets
var assets embed.FS

// Assets returns the UI's files, rooted so that index.html is at the top.
func Assets() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // "assets" is a valid, embedded directory name
	}
	return sub
}
