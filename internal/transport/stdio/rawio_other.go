//go:build !linux

package stdio

import (
	"io"
	"os"
)

// rawFile is Linux only; elsewhere files are read through os.File.
type rawFile struct{ io.ReadWriter }

func newRawFile(*os.File) *rawFile { return nil }
