package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// blockMagic starts an encoded block; the byte after it is the version.
const (
	blockMagic   = "FLBK"
	blockVersion = 1
	blockHeader  = 4 + 1 + 1 + 6*8
)

const (
	blockSparse = 1 << iota
	blockWeighted
	blockFloat32 // the dense values are float32 (Block.X32), 4 bytes each
)

// EncodeBlock appends a compact binary form of b to dst: how a driver ships
// a block it built to a worker. Values are stored bit for bit (little
// endian; float32 blocks in 4 bytes a value), so DecodeBlock returns an
// identical block.
func EncodeBlock(dst []byte, b *Block) []byte {
	var flags byte
	if b.Sparse() {
		flags |= blockSparse
	}
	if b.W != nil {
		flags |= blockWeighted
	}
	nx := len(b.X)
	if b.X32 != nil {
		flags |= blockFloat32
		nx = len(b.X32)
	}
	dst = append(dst, blockMagic...)
	dst = append(dst, blockVersion, flags)
	for _, n := range []int{b.Rows, b.Cols, nx, len(b.Ind), b.Skipped, 0} {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(n))
	}
	dst = appendFloats(dst, b.X)
	for _, x := range b.X32 {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	if b.Sparse() {
		for _, p := range b.Ptr {
			dst = binary.LittleEndian.AppendUint64(dst, uint64(p))
		}
		for _, j := range b.Ind {
			dst = binary.LittleEndian.AppendUint32(dst, uint32(j))
		}
		dst = appendFloats(dst, b.Val)
	}
	dst = appendFloats(dst, b.Y)
	return appendFloats(dst, b.W)
}

func appendFloats(dst []byte, xs []float64) []byte {
	for _, x := range xs {
		dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(x))
	}
	return dst
}

// DecodeBlock decodes a block encoded by EncodeBlock and validates it. The
// error says what is wrong with the encoding.
func DecodeBlock(data []byte) (*Block, error) {
	if len(data) < blockHeader || string(data[:4]) != blockMagic {
		return nil, errors.New("cluster: decode block: not an encoded block (bad magic or too short)")
	}
	if v := data[4]; v != blockVersion {
		return nil, fmt.Errorf("cluster: decode block: version %d, this build reads %d", v, blockVersion)
	}
	flags := data[5]
	var h [6]uint64
	for i := range h {
		h[i] = binary.LittleEndian.Uint64(data[6+8*i:])
	}
	rows, cols, nx, nnz, skipped := h[0], h[1], h[2], h[3], h[4]
	const maxLen = math.MaxInt32
	if rows > maxLen || cols > maxLen || nx > 1<<40 || nnz > 1<<40 || skipped > math.MaxInt64 {
		return nil, fmt.Errorf("cluster: decode block: implausible sizes (rows %d, cols %d, values %d, non-zeros %d)", rows, cols, nx, nnz)
	}
	sparse := flags&blockSparse != 0
	weighted := flags&blockWeighted != 0
	f32 := flags&blockFloat32 != 0
	if flags&^(blockSparse|blockWeighted|blockFloat32) != 0 {
		return nil, fmt.Errorf("cluster: decode block: unknown flags %#x", flags)
	}
	if f32 && sparse {
		return nil, errors.New("cluster: decode block: flags say both sparse and float32")
	}
	want := 8 * (nx + rows)
	if f32 {
		want = 4*nx + 8*rows
	}
	if sparse {
		want += 8*(rows+1) + 12*nnz
	}
	if weighted {
		want += 8 * rows
	}
	if got := uint64(len(data) - blockHeader); got != want {
		return nil, fmt.Errorf("cluster: decode block: %d bytes of data for a %d×%d block (sparse %v, weighted %v), want %d", got, rows, cols, sparse, weighted, want)
	}
	p := data[blockHeader:]
	b := &Block{Rows: int(rows), Cols: int(cols), Skipped: int(skipped)}
	if f32 {
		b.X32 = make([]float32, nx)
		for i := range b.X32 {
			b.X32[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
		}
		p = p[4*nx:]
	} else {
		b.X, p = readFloats(p, int(nx))
	}
	if sparse {
		b.Ptr = make([]int, rows+1)
		for i := range b.Ptr {
			v := binary.LittleEndian.Uint64(p)
			if v > nnz {
				return nil, fmt.Errorf("cluster: decode block: row pointer %d is %d, beyond %d non-zeros", i, v, nnz)
			}
			b.Ptr[i] = int(v)
			p = p[8:]
		}
		b.Ind = make([]int32, nnz)
		for i := range b.Ind {
			b.Ind[i] = int32(binary.LittleEndian.Uint32(p))
			p = p[4:]
		}
		b.Val, p = readFloats(p, int(nnz))
	}
	b.Y, p = readFloats(p, int(rows))
	if weighted {
		b.W, _ = readFloats(p, int(rows))
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("cluster: decode block: %w", err)
	}
	return b, nil
}

func readFloats(p []byte, n int) ([]float64, []byte) {
	if n == 0 {
		return nil, p
	}
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = math.Float64frombits(binary.LittleEndian.Uint64(p[8*i:]))
	}
	return xs, p[8*n:]
}
