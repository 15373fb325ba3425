//go:build !noasm

// The AVX-512 vector helpers of Cholesky and the row gather (AVX512F):
// masked loads and stores take the last n%8 elements, so nothing past a
// slice's end is read or written.

#include "textflag.h"

// func axpyAVX512(dst, x *float64, a float64, n int)
//
// dst[i] = fma(a, x[i], dst[i]) for i < n.
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	VBROADCASTSD a+16(FP), Z0
	MOVQ         n+24(FP), CX

axpy8:
	CMPQ        CX, $8
	JLT         axpytail
	VMOVUPD     (DI), Z1
	VFMADD231PD (SI), Z0, Z1
	VMOVUPD     Z1, (DI)
	ADDQ        $64, DI
	ADDQ        $64, SI
	SUBQ        $8, CX
	JMP         axpy8

axpytail:
	TESTQ       CX, CX
	JZ          axpydone
	MOVQ        $1, AX
	SHLQ        CX, AX
	DECQ        AX
	KMOVW       AX, K1
	VMOVUPD.Z   (DI), K1, Z1
	VMOVUPD.Z   (SI), K1, Z2
	VFMADD231PD Z2, Z0, Z1
	VMOVUPD     Z1, K1, (DI)

axpydone:
	VZEROUPPER
	RET

// func scaleAVX512(dst *float64, a float64, n int)
//
// dst[i] *= a for i < n.
TEXT ·scaleAVX512(SB), NOSPLIT, $0-24
	MOVQ         dst+0(FP), DI
	VBROADCASTSD a+8(FP), Z0
	MOVQ         n+16(FP), CX

sc8:
	CMPQ    CX, $8
	JLT     sctail
	VMULPD  (DI), Z0, Z1
	VMOVUPD Z1, (DI)
	ADDQ    $64, DI
	SUBQ    $8, CX
	JMP     sc8

sctail:
	TESTQ     CX, CX
	JZ        scdone
	MOVQ      $1, AX
	SHLQ      CX, AX
	DECQ      AX
	KMOVW     AX, K1
	VMOVUPD.Z (DI), K1, Z1
	VMULPD    Z1, Z0, Z1
	VMOVUPD   Z1, K1, (DI)

scdone:
	VZEROUPPER
	RET

// func scaleNegAVX512(dst, neg *float64, a float64, n int)
//
// dst[i] *= a, then neg[i] = −dst[i] (the sign bit flipped), for i < n.
TEXT ·scaleNegAVX512(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         neg+8(FP), SI
	VBROADCASTSD a+16(FP), Z0
	MOVQ         n+24(FP), CX
	MOVQ         $0x8000000000000000, AX
	VPBROADCASTQ AX, Z3

scale8:
	CMPQ    CX, $8
	JLT     scaletail
	VMULPD  (DI), Z0, Z1
	VMOVUPD Z1, (DI)
	VPXORQ  Z3, Z1, Z2
	VMOVUPD Z2, (SI)
	ADDQ    $64, DI
	ADDQ    $64, SI
	SUBQ    $8, CX
	JMP     scale8

scaletail:
	TESTQ     CX, CX
	JZ        scaledone
	MOVQ      $1, AX
	SHLQ      CX, AX
	DECQ      AX
	KMOVW     AX, K1
	VMOVUPD.Z (DI), K1, Z1
	VMULPD    Z1, Z0, Z1
	VMOVUPD   Z1, K1, (DI)
	VPXORQ    Z3, Z1, Z2
	VMOVUPD   Z2, K1, (SI)

scaledone:
	VZEROUPPER
	RET

// func backsubAVX512(x, a *float64, w, k int)
//
// For i = k−1 down to 0: x[i] = (a[i·w+k] − s) / a[i·w+i], s the sum of
// a[i·w+j]·x[j] over j > i in eight lanes (lane q takes j = i+1+q,
// i+9+q, …, one fused multiply-add each, the lanes of a last partial
// block fed zeros), reduced as ((s0+s4)+(s2+s6)) + ((s1+s5)+(s3+s7)).
// Z5 keeps x[i+1…i+8] (zeros past x's end), each new x[i] shifted into
// its lane 0 (VALIGNQ), so a row's first block does not load the value the
// row before has just stored (a wide load over a narrow store waits for
// the store to reach the cache).
TEXT ·backsubAVX512(SB), NOSPLIT, $0-32
	MOVQ   x+0(FP), DI
	MOVQ   a+8(FP), SI
	MOVQ   w+16(FP), BX
	SHLQ   $3, BX
	MOVQ   k+24(FP), R8
	MOVQ   R8, R9
	DECQ   R9
	VPXORQ Z5, Z5, Z5

bsrow:
	CMPQ  R9, $0
	JL    bsdone
	MOVQ  R9, AX
	IMULQ BX, AX
	ADDQ  SI, AX
	MOVQ  R8, R12
	SUBQ  R9, R12
	DECQ  R12
	LEAQ  8(AX)(R9*8), R10
	LEAQ  8(DI)(R9*8), R11
	MOVQ  R12, CX
	CMPQ  CX, $8
	JLE   bsfirst
	MOVQ  $8, CX

bsfirst:
	MOVQ        $1, DX
	SHLQ        CX, DX
	DECQ        DX
	KMOVW       DX, K1
	VMOVUPD.Z   (R10), K1, Z1
	VXORPD      X0, X0, X0
	VFMADD231PD Z1, Z5, Z0
	SUBQ        $8, R12
	JLE         bsreduce
	ADDQ        $64, R10
	ADDQ        $64, R11
	MOVQ        R12, CX

bs8:
	CMPQ        CX, $8
	JLT         bstail
	VMOVUPD     (R11), Z1
	VFMADD231PD (R10), Z1, Z0
	ADDQ        $64, R10
	ADDQ        $64, R11
	SUBQ        $8, CX
	JMP         bs8

bstail:
	TESTQ       CX, CX
	JZ          bsreduce
	MOVQ        $1, DX
	SHLQ        CX, DX
	DECQ        DX
	KMOVW       DX, K1
	VMOVUPD.Z   (R11), K1, Z1
	VMOVUPD.Z   (R10), K1, Z2
	VFMADD231PD Z2, Z1, Z0

bsreduce:
	VEXTRACTF64X4 $1, Z0, Y1
	VADDPD        Y1, Y0, Y0
	VEXTRACTF128  $1, Y0, X1
	VADDPD        X1, X0, X0
	VPERMILPD     $1, X0, X1
	VADDSD        X1, X0, X0
	VMOVSD        (AX)(R8*8), X2
	VSUBSD        X0, X2, X2
	VDIVSD        (AX)(R9*8), X2, X2
	VMOVSD        X2, (DI)(R9*8)
	VBROADCASTSD  X2, Z3
	VALIGNQ       $7, Z3, Z5, Z5
	DECQ          R9
	JMP           bsrow

bsdone:
	VZEROUPPER
	RET

// func gatherAVX512(y *float64, w int, f *float64, k int, ind *int32, n, ahead int)
//
// For l < n, copies the k values of row ind[l] of f (rows k apart) to
// y[l·w:], after asking for the cache lines of row ind[l+ahead]
// (PREFETCHT0), so that the rows' misses overlap. k is positive.
TEXT ·gatherAVX512(SB), NOSPLIT, $0-56
	MOVQ y+0(FP), DI
	MOVQ w+8(FP), BX
	SHLQ $3, BX
	MOVQ f+16(FP), SI
	MOVQ k+24(FP), R9
	MOVQ ind+32(FP), R8
	MOVQ n+40(FP), DX
	MOVQ R9, CX
	ANDQ $7, CX
	MOVQ $1, AX
	SHLQ CX, AX
	DECQ AX
	KMOVW AX, K1
	MOVQ R9, R10
	SHLQ $3, R10    // bytes a row
	SHRQ $3, R9     // whole Z registers a row
	XORQ R11, R11   // l

grow:
	CMPQ R11, DX
	JGE  gdone
	MOVQ ahead+48(FP), R12
	ADDQ R11, R12
	CMPQ R12, DX
	JGE  gcopy
	MOVL (R8)(R12*4), R13
	IMULQ R10, R13
	ADDQ SI, R13
	LEAQ -1(R13)(R10*1), R14 // the row's last byte

gpf:
	PREFETCHT0 (R13)
	ADDQ       $64, R13
	CMPQ       R13, R14
	JLE        gpf
	PREFETCHT0 (R14)

gcopy:
	MOVL  (R8)(R11*4), R13
	IMULQ R10, R13
	ADDQ  SI, R13
	MOVQ  DI, R12
	MOVQ  R9, R14

gz:
	TESTQ   R14, R14
	JZ      gtail
	VMOVUPD (R13), Z0
	VMOVUPD Z0, (R12)
	ADDQ    $64, R13
	ADDQ    $64, R12
	DECQ    R14
	JMP     gz

gtail:
	VMOVUPD.Z (R13), K1, Z0
	VMOVUPD   Z0, K1, (R12)
	ADDQ      BX, DI
	INCQ      R11
	JMP       grow

gdone:
	VZEROUPPER
	RET
