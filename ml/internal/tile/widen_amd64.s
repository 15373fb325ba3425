//go:build !noasm

#include "textflag.h"

// func widenAVX512(dst *float64, src *float32, n int)
//
// dst[l] = float64(src[l]) for l < n, n a positive multiple of 32: four
// Z registers a step.
TEXT ·widenAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $5, CX

widen512loop:
	VCVTPS2PD 0(SI), Z0
	VCVTPS2PD 32(SI), Z1
	VCVTPS2PD 64(SI), Z2
	VCVTPS2PD 96(SI), Z3
	VMOVUPD   Z0, 0(DI)
	VMOVUPD   Z1, 64(DI)
	VMOVUPD   Z2, 128(DI)
	VMOVUPD   Z3, 192(DI)
	ADDQ      $128, SI
	ADDQ      $256, DI
	DECQ      CX
	JNZ       widen512loop
	VZEROUPPER
	RET

// func widenAVX2(dst *float64, src *float32, n int)
//
// dst[l] = float64(src[l]) for l < n, n a positive multiple of 16: four
// Y registers a step.
TEXT ·widenAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $4, CX

widen2loop:
	VCVTPS2PD 0(SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VMOVUPD   Y0, 0(DI)
	VMOVUPD   Y1, 32(DI)
	VMOVUPD   Y2, 64(DI)
	VMOVUPD   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	DECQ      CX
	JNZ       widen2loop
	VZEROUPPER
	RET
