// Command petrel runs a petrel node and the tools around it (shared/API.md §1):
//
//	petrel init  --data DIR [--name NAME]              create identity + encrypted store
//	petrel run   --data DIR [--api 127.0.0.1:7733] [--listen MULTIADDR]... [--relay MULTIADDR]...
//	petrel version
//
// The passphrase comes from PETREL_PASSPHRASE, else --passphrase-file FILE, else an
// interactive prompt; with none of these and no terminal, petrel exits non-zero saying so.
// This package holds flags and subcommands only; the node lives in node/.
package main
