// Command gotlog runs Go's reference code (golang.org/x/mod/sumdb/note and sumdb/tlog)
// for tcr-kit's interoperability tests. It is built offline in GOPATH mode against
// Debian's golang-golang-x-mod-dev. Hashes on the command line and in the output are
// base64 (tlog.Hash's text form); record data on stdin is one hex string per line.
//
//	gotlog verify-note VKEY...      < note   prints the note text, then "verified: NAME..."
//	gotlog sign-note SKEY           < text   prints the signed note
//	gotlog genkey NAME                       prints the signer key, then the verifier key
//	gotlog tree-hash N              < data   prints the hash of the tree of N records
//	gotlog prove-record T N         < data   prints the proof that record N is in tree T
//	gotlog prove-tree T N           < data   prints the proof that tree N is a prefix of T
//	gotlog check-record T TH N H PROOF...    exits 0 if the record proof verifies
//	gotlog check-tree T TH N H PROOF...      exits 0 if the tree proof verifies
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "gotlog: "+format+"\n", args...)
	os.Exit(1)
}

func readAll() []byte {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("read stdin: %v", err)
	}
	return data
}

func num(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		fail("not a number: %q", s)
	}
	return n
}

func hash(s string) tlog.Hash {
	h, err := tlog.ParseHash(s)
	if err != nil {
		fail("not a hash: %q", s)
	}
	return h
}

// storage holds the stored hashes of a tree built from the records on stdin.
func storage() ([]tlog.Hash, int64) {
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	var n int64
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" {
			continue
		}
		data, err := hex.DecodeString(line)
		if err != nil {
			fail("record %d is not hex", n)
		}
		hashes, err := tlog.StoredHashes(n, data, reader)
		if err != nil {
			fail("%v", err)
		}
		stored = append(stored, hashes...)
		n++
	}
	return stored, n
}

func reader(stored []tlog.Hash) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: gotlog COMMAND ARGS...")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "verify-note":
		var vs []note.Verifier
		for _, k := range args {
			v, err := note.NewVerifier(k)
			if err != nil {
				fail("verifier key: %v", err)
			}
			vs = append(vs, v)
		}
		n, err := note.Open(readAll(), note.VerifierList(vs...))
		if err != nil {
			fail("open: %v", err)
		}
		fmt.Print(n.Text)
		names := []string{}
		for _, s := range n.Sigs {
			names = append(names, s.Name)
		}
		fmt.Printf("verified: %s\n", strings.Join(names, " "))
	case "sign-note":
		s, err := note.NewSigner(args[0])
		if err != nil {
			fail("signer key: %v", err)
		}
		msg, err := note.Sign(&note.Note{Text: string(readAll())}, s)
		if err != nil {
			fail("sign: %v", err)
		}
		os.Stdout.Write(msg)
	case "genkey":
		skey, vkey, err := note.GenerateKey(rand.Reader, args[0])
		if err != nil {
			fail("genkey: %v", err)
		}
		fmt.Println(skey)
		fmt.Println(vkey)
	case "tree-hash":
		stored, _ := storage()
		h, err := tlog.TreeHash(num(args[0]), reader(stored))
		if err != nil {
			fail("%v", err)
		}
		fmt.Println(h)
	case "prove-record":
		stored, _ := storage()
		p, err := tlog.ProveRecord(num(args[0]), num(args[1]), reader(stored))
		if err != nil {
			fail("%v", err)
		}
		for _, h := range p {
			fmt.Println(h)
		}
	case "prove-tree":
		stored, _ := storage()
		p, err := tlog.ProveTree(num(args[0]), num(args[1]), reader(stored))
		if err != nil {
			fail("%v", err)
		}
		for _, h := range p {
			fmt.Println(h)
		}
	case "check-record", "check-tree":
		if len(args) < 4 {
			fail("%s T TH N H PROOF...", os.Args[1])
		}
		var proof []tlog.Hash
		for _, s := range args[4:] {
			proof = append(proof, hash(s))
		}
		var err error
		if os.Args[1] == "check-record" {
			err = tlog.CheckRecord(proof, num(args[0]), hash(args[1]), num(args[2]), hash(args[3]))
		} else {
			err = tlog.CheckTree(proof, num(args[0]), hash(args[1]), num(args[2]), hash(args[3]))
		}
		if err != nil {
			fail("%v", err)
		}
		fmt.Println("ok")
	default:
		fail("unknown command %q", os.Args[1])
	}
}
