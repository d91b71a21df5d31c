// Command petrel runs a petrel node and the tools around it (docs/API.md §1):
//
//	petrel init  --data DIR [--name NAME]              create identity + encrypted store
//	petrel run   --data DIR [--api 127.0.0.1:7733] [--listen MULTIADDR]... [--relay MULTIADDR]...
//	petrel demo  [--api-port PORT]                     alice + bob on loopback, prints both UI links
//	petrel version
//
// The passphrase comes from PETREL_PASSPHRASE, else --passphrase-file FILE, else an
// interactive prompt; with none of these and no terminal, petrel exits non-zero saying so.
// `petrel run` prints the web UI link, http://127.0.0.1:PORT/#token=TOKEN. `petrel demo` runs
// two nodes in this process (see cmd_demo.go), in temporary directories it removes on exit.
// This package holds flags and subcommands only; the node lives in node/.
package main
