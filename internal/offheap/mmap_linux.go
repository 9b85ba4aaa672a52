package offheap

import "golang.org/x/sys/unix"

const supported = true

func mapBytes(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
}

// remapBytes grows a mapping, moving its pages rather than copying them when it cannot grow in place.
func remapBytes(old []byte, n int) ([]byte, error) { return unix.Mremap(old, n, unix.MREMAP_MAYMOVE) }

func unmapBytes(m []byte) error { return unix.Munmap(m) }

// revokeBytes makes a mapping inaccessible and drops its pages, keeping the address range reserved.
func revokeBytes(m []byte) error {
	if err := unix.Mprotect(m, unix.PROT_NONE); err != nil {
		return err
	}
	return unix.Madvise(m, unix.MADV_DONTNEED)
}
