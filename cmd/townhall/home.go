package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/townhall-dev/townhall/community"
	"github.com/townhall-dev/townhall/plc"
	"github.com/townhall-dev/townhall/repo"
)

// A home directory holds everything a sequence of CLI calls shares, so
// that they work offline:
//
//	HOME/host.json            the host's endpoint and service DID
//	HOME/host-signing.key     the host's atproto signing key (0600)
//	HOME/host-rotation.key    the host's did:plc rotation key (0600)
//	HOME/repo.db              the host's repositories (SQLite)
//	HOME/private.db           private audience blocks (SQLite)
//	HOME/plc.db               the local did:plc directory (SQLite)
//	HOME/accounts.json        the local test PDS's accounts (name, DID, key file)
//	HOME/accounts/NAME.key    an account's PDS signing key (0600)
//	HOME/communities          the DIDs of the communities this host holds
//
// The directory is created with mode 0700 on first use. The did:plc
// directory is plc's embeddable one, called in process through an
// http.RoundTripper: nothing listens on a port.

// homeDir resolves --home, then $TOWNHALL_HOME, then ~/.townhall.
func homeDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if h := os.Getenv("TOWNHALL_HOME"); h != "" {
		return h, nil
	}
	u, err := os.UserHomeDir()
	if err != nil {
		return "", usageErr("no home directory: pass --home DIR or set TOWNHALL_HOME")
	}
	return filepath.Join(u, ".townhall"), nil
}

type hostConfig struct {
	Endpoint   string `json:"endpoint"`
	ServiceDID string `json:"serviceDid"`
}

type account struct {
	Name string `json:"name"`
	DID  string `json:"did"`
}

// home is an opened home directory: the directory, the host and the
// accounts. close releases the databases.
type home struct {
	dir      string
	cfg      hostConfig
	plcDB    *plc.SQLiteStorage
	plcDir   *plc.Directory
	plc      *plc.Client
	store    *repo.SQLiteStore
	private  *community.SQLitePrivateStore
	host     *community.Host
	ids      *identity.MockDirectory
	accounts []account
}

// openHome opens (creating if needed) the home directory and its host.
// endpoint, if set, is the host's URL when the home is new (it is kept in
// host.json; the service DID is did:web of its host name).
func openHome(ctx context.Context, dir, endpoint string) (*home, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, ioErr("cannot create home %s: %v", dir, unwrapPathErr(err))
	}
	// The home holds keys and every private record: refuse one others can
	// enter or read (MkdirAll leaves an existing directory's mode alone).
	st, err := os.Stat(dir)
	if err != nil {
		return nil, ioErr("cannot read home %s: %v", dir, unwrapPathErr(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, usageErr("home %s has mode %o: run 'chmod 700 %s' (it holds keys and private records)", dir, st.Mode().Perm(), dir)
	}
	// The databases are created owner-only (SQLite gives its -wal and -shm
	// files the database file's mode); older homes' files are tightened.
	for _, db := range []string{"plc.db", "repo.db", "private.db"} {
		if err := ownerOnlyFile(filepath.Join(dir, db)); err != nil {
			return nil, err
		}
	}
	h := &home{dir: dir, ids: identity.NewMockDirectory()}
	ok := false
	defer func() {
		if !ok {
			h.close()
		}
	}()
	if err := readJSONFile(filepath.Join(dir, "host.json"), &h.cfg); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, ioErr("cannot read %s: %v", filepath.Join(dir, "host.json"), err)
	}
	if h.cfg.Endpoint == "" {
		if endpoint == "" {
			endpoint = "https://host.townhall.localhost"
		}
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, usageErr("--endpoint %q is not an http(s) URL", endpoint)
		}
		h.cfg = hostConfig{Endpoint: endpoint, ServiceDID: "did:web:" + u.Hostname()}
		if err := writeJSONFile(filepath.Join(dir, "host.json"), h.cfg); err != nil {
			return nil, err
		}
	}
	signing, err := homeKey(filepath.Join(dir, "host-signing.key"))
	if err != nil {
		return nil, err
	}
	rotation, err := homeKey(filepath.Join(dir, "host-rotation.key"))
	if err != nil {
		return nil, err
	}
	if h.plcDB, err = plc.OpenSQLite(ctx, filepath.Join(dir, "plc.db")); err != nil {
		return nil, ioErr("cannot open the local did:plc directory: %v", err)
	}
	// The directory's own clock (time.Now) is enough: Submit gives an
	// operation 1 ms after its DID's head when the clock has not moved
	// past it, under the DID's lock.
	h.plcDir = plc.NewDirectory(plc.DirectoryOptions{Storage: h.plcDB})
	h.plc = h.plcDir.Client(plc.ClientOptions{})
	if h.store, err = repo.OpenSQLite(ctx, filepath.Join(dir, "repo.db"), repo.SQLiteOptions{}); err != nil {
		return nil, ioErr("cannot open the host's store: %v", err)
	}
	if h.private, err = community.OpenSQLitePrivateStore(ctx, filepath.Join(dir, "private.db")); err != nil {
		return nil, ioErr("cannot open the private store: %v", err)
	}
	if err := h.loadAccounts(ctx); err != nil {
		return nil, err
	}
	h.host, err = community.NewHost(ctx, community.HostOptions{Store: h.store, Private: h.private,
		SigningKey: signing, RotationKey: rotation, Endpoint: h.cfg.Endpoint, ServiceDID: h.cfg.ServiceDID,
		PLC: h.plc, Identity: h.ids})
	if err != nil {
		return nil, invalidErr("cannot start the host: %v", err)
	}
	ok = true
	return h, nil
}

func (h *home) close() {
	if h.host != nil {
		h.host.Close()
	}
	if h.private != nil {
		h.private.Close()
	}
	if h.store != nil {
		h.store.Close()
	}
	if h.plcDB != nil {
		h.plcDB.Close()
	}
}

// homeKey reads a host key file, creating it (0600) on first use.
func homeKey(path string) (atcrypto.PrivateKeyExportable, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		k, err := atcrypto.GeneratePrivateKeyP256()
		if err != nil {
			return nil, ioErr("cannot generate a key: %v", err)
		}
		if err := writeKeyFile(path, k); err != nil {
			return nil, err
		}
		return k, nil
	}
	return readKeyFile(path)
}

func (h *home) loadAccounts(ctx context.Context) error {
	if err := readJSONFile(filepath.Join(h.dir, "accounts.json"), &h.accounts); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ioErr("cannot read accounts.json: %v", err)
	}
	for _, a := range h.accounts {
		data, err := h.plc.Data(ctx, a.DID)
		if err != nil {
			return ioErr("account %s (%s) is not in the local directory: %v", a.Name, a.DID, err)
		}
		h.ids.Insert(identity.Identity{DID: syntax.DID(a.DID), Handle: syntax.Handle(a.Name + ".townhall.localhost"),
			Keys: map[string]identity.VerificationMethod{"atproto": {Type: "Multikey", PublicKeyMultibase: strings.TrimPrefix(data.VerificationMethods["atproto"], "did:key:")}}})
	}
	return nil
}

// account returns the named local account and its PDS key.
func (h *home) account(name string) (account, atcrypto.PrivateKey, error) {
	for _, a := range h.accounts {
		if a.Name == name || a.DID == name {
			k, err := readKeyFile(filepath.Join(h.dir, "accounts", a.Name+".key"))
			return a, k, err
		}
	}
	return account{}, nil, usageErr("no account %q in %s: create it with 'townhall account create %s'", name, h.dir, name)
}

// communities lists the DIDs this host holds.
func (h *home) communities() ([]string, error) {
	b, err := os.ReadFile(filepath.Join(h.dir, "communities"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, ioErr("cannot read the community list: %v", err)
	}
	return strings.Fields(string(b)), nil
}

func (h *home) addCommunity(did string) error {
	list, err := h.communities()
	if err != nil {
		return err
	}
	for _, d := range list {
		if d == did {
			return nil
		}
	}
	list = append(list, did)
	sort.Strings(list)
	if err := os.WriteFile(filepath.Join(h.dir, "communities"), []byte(strings.Join(list, "\n")+"\n"), 0o600); err != nil {
		return ioErr("cannot write the community list: %v", err)
	}
	return nil
}

// open opens a community of this host: did, or the only one if did is "".
func (h *home) open(ctx context.Context, did string) (*community.Community, error) {
	if did == "" {
		list, err := h.communities()
		if err != nil {
			return nil, err
		}
		if len(list) != 1 {
			return nil, usageErr("%d communities in %s: name one with --community DID", len(list), h.dir)
		}
		did = list[0]
	}
	c, err := h.host.Open(ctx, did)
	if err != nil {
		return nil, invalidErr("cannot open community %s here: %v", did, err)
	}
	return c, nil
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return ioErr("cannot encode %s: %v", path, err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return ioErr("cannot write %s: %v", path, unwrapPathErr(err))
	}
	return nil
}

const homeHelp = `
state: account and community keep a host's state in a home directory, so that a
sequence of calls works offline: --home DIR, else $TOWNHALL_HOME, else ~/.townhall
(repo.db, private.db, plc.db: the host's store and a local did:plc directory;
host-*.key and accounts/*.key with mode 0600; accounts.json; communities).

a session, offline:
  townhall key gen -o mo.key && townhall key gen -o rec.key
  townhall account create mo
  townhall community create --name Gardeners --account mo --key mo.key --recovery rec.key --join-role member
  townhall key gen -o alice.key && townhall account create alice
  townhall community join --account alice --key alice.key
  echo '{"$type":"dev.townhall.chat.message","channel":"general","text":"hi","createdAt":"2026-11-21T09:00:00Z"}' |
    townhall community write --key alice.key --collection dev.townhall.chat.message
  townhall community list --collection dev.townhall.chat.message --json
  townhall community export -o g.car --audit-log g.audit.json
  townhall community did-doc > did.json && townhall car verify g.car --did-doc did.json`

// ownerOnlyFile creates path (empty) with mode 0600 if it does not exist,
// and takes group and other permissions away from it and its SQLite -wal
// and -shm files if they exist.
func ownerOnlyFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return ioErr("cannot create %s: %v", path, unwrapPathErr(err))
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
			return ioErr("cannot restrict %s to its owner: %v", p, unwrapPathErr(err))
		}
	}
	return nil
}
