package clientconf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrChanged is returned when a file is not what init last saw: changed
// while init ran, or since init rewrote it.
var ErrChanged = errors.New("file changed")

// Backups keeps a copy of every configuration file init changes, taken
// before its first change, and a manifest saying what init wrote, so that
// Undo can put each file back byte for byte. It lives in a directory only
// its user can read (0700, files 0600): a backup holds whatever the
// original file held, secrets included. A backup's name is derived from
// the client and a hash of the file's path, never from its content.
type Backups struct {
	Dir string // e.g. ~/.local/state/tollgate/init
	Now func() time.Time
}

// Record is the manifest's entry for one changed file.
type Record struct {
	Path   string    `json:"path"`
	Client string    `json:"client"`
	Backup string    `json:"backup"` // file name under Dir/backups
	Before string    `json:"before_sha256"`
	After  string    `json:"after_sha256"` // what init wrote last
	Mode   uint32    `json:"mode"`
	Time   time.Time `json:"time"`
}

type manifest struct {
	Files []Record `json:"files"`
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// BackupName is the name of the backup of the client's file at path.
func BackupName(client, path string) string {
	h := sha256.Sum256([]byte(path))
	return client + "-" + hex.EncodeToString(h[:8]) + ".json"
}

func (b *Backups) manifestPath() string { return filepath.Join(b.Dir, "manifest.json") }

func (b *Backups) load() (*manifest, error) {
	data, err := os.ReadFile(b.manifestPath())
	if errors.Is(err, os.ErrNotExist) {
		return &manifest{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read init manifest: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read init manifest %s: %w", b.manifestPath(), err)
	}
	return &m, nil
}

func (b *Backups) save(m *manifest) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("write init manifest: %w", err)
	}
	if err := os.MkdirAll(b.Dir, 0o700); err != nil {
		return fmt.Errorf("write init manifest: %w", err)
	}
	return writeAtomic(b.manifestPath(), append(data, '\n'), 0o600)
}

// Write replaces f's file with data after making sure the file is still
// what f was read from and that a backup of the original exists. A file
// init already changed keeps its first backup when it is still as init
// left it; one edited since gets a fresh backup (undo then returns to the
// state just before this change).
func (b *Backups) Write(f *File, data []byte) error {
	cur, err := os.ReadFile(f.Path)
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	if !bytes.Equal(cur, f.Data) {
		return fmt.Errorf("write %s: %w while init ran (run init again)", f.Path, ErrChanged)
	}
	m, err := b.load()
	if err != nil {
		return err
	}
	before := sum(f.Data)
	idx := -1
	for i, r := range m.Files {
		if r.Path == f.Path {
			idx = i
		}
	}
	now := time.Now
	if b.Now != nil {
		now = b.Now
	}
	if idx < 0 || m.Files[idx].After != before {
		name := BackupName(f.Client, f.Path)
		dir := filepath.Join(b.Dir, "backups")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("back up %s: %w", f.Path, err)
		}
		if err := writeAtomic(filepath.Join(dir, name), f.Data, 0o600); err != nil {
			return fmt.Errorf("back up %s: %w", f.Path, err)
		}
		r := Record{Path: f.Path, Client: f.Client, Backup: name, Before: before, Mode: uint32(f.Mode), Time: now().UTC()}
		if idx < 0 {
			m.Files = append(m.Files, r)
			idx = len(m.Files) - 1
		} else {
			m.Files[idx] = r
		}
	}
	prev := m.Files[idx].After
	m.Files[idx].After = sum(data)
	if err := b.save(m); err != nil {
		return err
	}
	if err := writeAtomic(f.Path, data, f.Mode); err != nil {
		m.Files[idx].After = prev
		if prev == "" {
			m.Files = append(m.Files[:idx], m.Files[idx+1:]...)
		}
		_ = b.save(m)
		return fmt.Errorf("write %s: %w", f.Path, err)
	}
	return nil
}

// UndoResult says what Undo did with one file.
type UndoResult struct {
	Path   string
	Client string
	// Outcome: "restored", "unchanged" (already the original), "changed"
	// (edited since init wrote it; left alone without force), "missing"
	// (the file is gone; restored), or "failed".
	Outcome string
	Err     error
}

// Undo restores every file init changed from its backup. A file that is
// no longer what init wrote is left alone unless force is set. Files it
// restored leave the manifest; the others stay for another try.
func (b *Backups) Undo(force bool) ([]UndoResult, error) {
	m, err := b.load()
	if err != nil {
		return nil, err
	}
	var results []UndoResult
	var keep []Record
	for _, r := range m.Files {
		res := UndoResult{Path: r.Path, Client: r.Client}
		backup, err := os.ReadFile(filepath.Join(b.Dir, "backups", r.Backup))
		if err != nil {
			res.Outcome, res.Err = "failed", fmt.Errorf("read backup of %s: %w", r.Path, err)
			results = append(results, res)
			keep = append(keep, r)
			continue
		}
		cur, err := os.ReadFile(r.Path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			res.Outcome = "missing"
		case err != nil:
			res.Outcome, res.Err = "failed", fmt.Errorf("read %s: %w", r.Path, err)
		case bytes.Equal(cur, backup):
			res.Outcome = "unchanged"
		case sum(cur) != r.After && !force:
			res.Outcome = "changed"
			res.Err = fmt.Errorf("undo %s: %w since tollgate init wrote it (use --force to restore the backup anyway)", r.Path, ErrChanged)
		default:
			res.Outcome = "restored"
		}
		if res.Outcome == "restored" || res.Outcome == "missing" {
			if err := writeAtomic(r.Path, backup, os.FileMode(r.Mode)); err != nil {
				res.Outcome, res.Err = "failed", fmt.Errorf("restore %s: %w", r.Path, err)
			}
		}
		if res.Err != nil {
			keep = append(keep, r)
		} else {
			_ = os.Remove(filepath.Join(b.Dir, "backups", r.Backup))
		}
		results = append(results, res)
	}
	m.Files = keep
	if err := b.save(m); err != nil {
		return results, err
	}
	return results, nil
}

// writeAtomic replaces path (the file a link points to, when it is a link)
// by data with mode, through a temporary file in the same directory, so a
// client reading it never sees half a file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	if mode == 0 {
		mode = 0o600
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tollgate-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
