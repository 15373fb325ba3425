//go:build !noasm

// The amd64 kernels of the dense loss passes (AVX2 and FMA; loss.go calls
// them only when hasAVX2 says the CPU has both). kernel_other.go holds the
// same contracts in Go for other machines and for -tags noasm, and the
// tests check the two against each other and against the definitions.

#include "textflag.h"

// func dotAxpyAVX2(x, w, xp, g []float64, alpha float64) float64
//
// Returns Σ x[j]·w[j] and adds alpha·xp[j] to g[j], for j < len(x), in one
// loop: the dot product streams x from memory while the scaled addition
// works on rows already in cache. len(w), len(xp) and len(g) must be at
// least len(x).
TEXT ·dotAxpyAVX2(SB), NOSPLIT, $0-112
	MOVQ x_base+0(FP), SI
	MOVQ x_len+8(FP), CX
	MOVQ w_base+24(FP), DI
	MOVQ xp_base+48(FP), R8
	MOVQ g_base+72(FP), R9
	VBROADCASTSD alpha+96(FP), Y15
	VXORPD Y0, Y0, Y0
	VXORPD Y1, Y1, Y1
	VXORPD Y2, Y2, Y2
	VXORPD Y3, Y3, Y3
	XORQ AX, AX
	MOVQ CX, DX
	ANDQ $-16, DX

loop16:
	CMPQ AX, DX
	JGE  tail4
	VMOVUPD (SI)(AX*8), Y4
	VMOVUPD 32(SI)(AX*8), Y5
	VMOVUPD 64(SI)(AX*8), Y6
	VMOVUPD 96(SI)(AX*8), Y7
	VFMADD231PD (DI)(AX*8), Y4, Y0
	VFMADD231PD 32(DI)(AX*8), Y5, Y1
	VFMADD231PD 64(DI)(AX*8), Y6, Y2
	VFMADD231PD 96(DI)(AX*8), Y7, Y3
	VMOVUPD (R9)(AX*8), Y8
	VMOVUPD 32(R9)(AX*8), Y9
	VMOVUPD 64(R9)(AX*8), Y10
	VMOVUPD 96(R9)(AX*8), Y11
	VFMADD231PD (R8)(AX*8), Y15, Y8
	VFMADD231PD 32(R8)(AX*8), Y15, Y9
	VFMADD231PD 64(R8)(AX*8), Y15, Y10
	VFMADD231PD 96(R8)(AX*8), Y15, Y11
	VMOVUPD Y8, (R9)(AX*8)
	VMOVUPD Y9, 32(R9)(AX*8)
	VMOVUPD Y10, 64(R9)(AX*8)
	VMOVUPD Y11, 96(R9)(AX*8)
	ADDQ $16, AX
	JMP  loop16

tail4:
	MOVQ CX, DX
	ANDQ $-4, DX

loop4:
	CMPQ AX, DX
	JGE  reduce
	VMOVUPD (SI)(AX*8), Y4
	VFMADD231PD (DI)(AX*8), Y4, Y0
	VMOVUPD (R9)(AX*8), Y8
	VFMADD231PD (R8)(AX*8), Y15, Y8
	VMOVUPD Y8, (R9)(AX*8)
	ADDQ $4, AX
	JMP  loop4

reduce:
	VADDPD Y1, Y0, Y0
	VADDPD Y3, Y2, Y2
	VADDPD Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPD X1, X0, X0
	VPERMILPD $1, X0, X1
	VADDSD X1, X0, X0

loop1:
	CMPQ AX, CX
	JGE  done
	VMOVSD (SI)(AX*8), X4
	VFMADD231SD (DI)(AX*8), X4, X0
	VMOVSD (R9)(AX*8), X8
	VFMADD231SD (R8)(AX*8), X15, X8
	VMOVSD X8, (R9)(AX*8)
	INCQ AX
	JMP  loop1

done:
	VZEROUPPER
	MOVSD X0, ret+104(FP)
	RET

// The logistic residuals of four rows at a time, for rows of unit weight:
// the loop of logisticResiduals in ml/loss.go, vectorised. Each constant
// below is repeated in four lanes so that instructions can take it from
// memory.
#define ONE 0 // 1
#define SIGN 32 // the sign bit
#define M708 64 // −708, where e^x nears the subnormals
#define LOG2E 96 // log₂e
#define LN2HI 128 // ln2, high part (k·LN2HI is exact)
#define LN2LO 160 // ln2, low part
#define BIAS 192 // the float64 exponent bias, as an integer
#define C2 224 // 1/2!
#define C3 256 // 1/3!
#define C4 288 // 1/4!
#define C5 320 // 1/5!
#define C6 352 // 1/6!
#define C7 384 // 1/7!
#define C8 416 // 1/8!
#define C9 448 // 1/9!
#define C10 480 // 1/10!
#define C11 512 // 1/11!
#define C12 544 // 1/12!
#define C13 576 // 1/13!

DATA lrconst<>+0(SB)/8, $0x3ff0000000000000
DATA lrconst<>+8(SB)/8, $0x3ff0000000000000
DATA lrconst<>+16(SB)/8, $0x3ff0000000000000
DATA lrconst<>+24(SB)/8, $0x3ff0000000000000
DATA lrconst<>+32(SB)/8, $0x8000000000000000
DATA lrconst<>+40(SB)/8, $0x8000000000000000
DATA lrconst<>+48(SB)/8, $0x8000000000000000
DATA lrconst<>+56(SB)/8, $0x8000000000000000
DATA lrconst<>+64(SB)/8, $0xc086200000000000
DATA lrconst<>+72(SB)/8, $0xc086200000000000
DATA lrconst<>+80(SB)/8, $0xc086200000000000
DATA lrconst<>+88(SB)/8, $0xc086200000000000
DATA lrconst<>+96(SB)/8, $0x3ff71547652b82fe
DATA lrconst<>+104(SB)/8, $0x3ff71547652b82fe
DATA lrconst<>+112(SB)/8, $0x3ff71547652b82fe
DATA lrconst<>+120(SB)/8, $0x3ff71547652b82fe
DATA lrconst<>+128(SB)/8, $0x3fe62e42fee00000
DATA lrconst<>+136(SB)/8, $0x3fe62e42fee00000
DATA lrconst<>+144(SB)/8, $0x3fe62e42fee00000
DATA lrconst<>+152(SB)/8, $0x3fe62e42fee00000
DATA lrconst<>+160(SB)/8, $0x3dea39ef35793c76
DATA lrconst<>+168(SB)/8, $0x3dea39ef35793c76
DATA lrconst<>+176(SB)/8, $0x3dea39ef35793c76
DATA lrconst<>+184(SB)/8, $0x3dea39ef35793c76
DATA lrconst<>+192(SB)/8, $0x00000000000003ff
DATA lrconst<>+200(SB)/8, $0x00000000000003ff
DATA lrconst<>+208(SB)/8, $0x00000000000003ff
DATA lrconst<>+216(SB)/8, $0x00000000000003ff
DATA lrconst<>+224(SB)/8, $0x3fe0000000000000
DATA lrconst<>+232(SB)/8, $0x3fe0000000000000
DATA lrconst<>+240(SB)/8, $0x3fe0000000000000
DATA lrconst<>+248(SB)/8, $0x3fe0000000000000
DATA lrconst<>+256(SB)/8, $0x3fc5555555555555
DATA lrconst<>+264(SB)/8, $0x3fc5555555555555
DATA lrconst<>+272(SB)/8, $0x3fc5555555555555
DATA lrconst<>+280(SB)/8, $0x3fc5555555555555
DATA lrconst<>+288(SB)/8, $0x3fa5555555555555
DATA lrconst<>+296(SB)/8, $0x3fa5555555555555
DATA lrconst<>+304(SB)/8, $0x3fa5555555555555
DATA lrconst<>+312(SB)/8, $0x3fa5555555555555
DATA lrconst<>+320(SB)/8, $0x3f81111111111111
DATA lrconst<>+328(SB)/8, $0x3f81111111111111
DATA lrconst<>+336(SB)/8, $0x3f81111111111111
DATA lrconst<>+344(SB)/8, $0x3f81111111111111
DATA lrconst<>+352(SB)/8, $0x3f56c16c16c16c17
DATA lrconst<>+360(SB)/8, $0x3f56c16c16c16c17
DATA lrconst<>+368(SB)/8, $0x3f56c16c16c16c17
DATA lrconst<>+376(SB)/8, $0x3f56c16c16c16c17
DATA lrconst<>+384(SB)/8, $0x3f2a01a01a01a01a
DATA lrconst<>+392(SB)/8, $0x3f2a01a01a01a01a
DATA lrconst<>+400(SB)/8, $0x3f2a01a01a01a01a
DATA lrconst<>+408(SB)/8, $0x3f2a01a01a01a01a
DATA lrconst<>+416(SB)/8, $0x3efa01a01a01a01a
DATA lrconst<>+424(SB)/8, $0x3efa01a01a01a01a
DATA lrconst<>+432(SB)/8, $0x3efa01a01a01a01a
DATA lrconst<>+440(SB)/8, $0x3efa01a01a01a01a
DATA lrconst<>+448(SB)/8, $0x3ec71de3a556c734
DATA lrconst<>+456(SB)/8, $0x3ec71de3a556c734
DATA lrconst<>+464(SB)/8, $0x3ec71de3a556c734
DATA lrconst<>+472(SB)/8, $0x3ec71de3a556c734
DATA lrconst<>+480(SB)/8, $0x3e927e4fb7789f5c
DATA lrconst<>+488(SB)/8, $0x3e927e4fb7789f5c
DATA lrconst<>+496(SB)/8, $0x3e927e4fb7789f5c
DATA lrconst<>+504(SB)/8, $0x3e927e4fb7789f5c
DATA lrconst<>+512(SB)/8, $0x3e5ae64567f544e4
DATA lrconst<>+520(SB)/8, $0x3e5ae64567f544e4
DATA lrconst<>+528(SB)/8, $0x3e5ae64567f544e4
DATA lrconst<>+536(SB)/8, $0x3e5ae64567f544e4
DATA lrconst<>+544(SB)/8, $0x3e21eed8eff8d898
DATA lrconst<>+552(SB)/8, $0x3e21eed8eff8d898
DATA lrconst<>+560(SB)/8, $0x3e21eed8eff8d898
DATA lrconst<>+568(SB)/8, $0x3e21eed8eff8d898
DATA lrconst<>+576(SB)/8, $0x3de6124613a86d09
DATA lrconst<>+584(SB)/8, $0x3de6124613a86d09
DATA lrconst<>+592(SB)/8, $0x3de6124613a86d09
DATA lrconst<>+600(SB)/8, $0x3de6124613a86d09
GLOBL lrconst<>(SB), RODATA|NOPTR, $608

#define K(name) lrconst<>+name(SB)

// func logisticResAVX2(m, y []float64, c float64) (loss, bias, prod float64, ok bool)
//
// For i < len(m) rounded down to a multiple of 4, with mᵢ' = mᵢ + c and
// eᵢ = exp(−|mᵢ'|) (the same reduction and Taylor polynomial as expNeg,
// rounding k to nearest), overwrites mᵢ with σ(mᵢ') − yᵢ and returns
// Σ (max(mᵢ', 0) − yᵢ·mᵢ'), Σ (σ(mᵢ') − yᵢ) and Π (1 + eᵢ), so that the
// loss of the rows is loss + log(prod), and whether every yᵢ was 0 or 1.
// len(y) must be at least len(m).
TEXT ·logisticResAVX2(SB), NOSPLIT, $0-81
	MOVQ m_base+0(FP), SI
	MOVQ m_len+8(FP), CX
	MOVQ y_base+24(FP), DI
	VBROADCASTSD c+48(FP), Y15
	VXORPD Y14, Y14, Y14   // Σ loss terms
	VXORPD Y13, Y13, Y13   // Σ residuals
	VMOVUPD K(ONE), Y12    // Π (1 + e)
	VPCMPEQQ Y9, Y9, Y9    // all ones: every label so far is 0 or 1
	XORQ AX, AX
	ANDQ $-4, CX

loop:
	CMPQ AX, CX
	JGE  done
	VMOVUPD (SI)(AX*8), Y0
	VADDPD  Y15, Y0, Y0             // m' = m + c
	VORPD   K(SIGN), Y0, Y1         // x = −|m'|
	VMAXPD  K(M708), Y1, Y1         // x = max(x, −708)
	VMULPD  K(LOG2E), Y1, Y2
	VCVTPD2DQY Y2, X3               // k = round(x·log₂e)
	VCVTDQ2PD X3, Y4                // float64(k)
	VFNMADD231PD K(LN2HI), Y4, Y1   // x −= k·ln2hi
	VFNMADD231PD K(LN2LO), Y4, Y1   // r = x − k·ln2lo
	VPMOVSXDQ X3, Y6
	VPADDQ  K(BIAS), Y6, Y6
	VPSLLQ  $52, Y6, Y6             // the bits of 2ᵏ
	VMULPD  Y1, Y1, Y7              // r²
	VMULPD  Y7, Y7, Y8              // r⁴
	VMOVUPD K(C2), Y10
	VFMADD231PD K(C3), Y1, Y10      // c2 + c3·r
	VADDPD  K(ONE), Y1, Y11         // 1 + r
	VFMADD231PD Y10, Y7, Y11        // (1 + r) + r²(c2 + c3·r)
	VMOVUPD K(C4), Y10
	VFMADD231PD K(C5), Y1, Y10
	VMOVUPD K(C6), Y2
	VFMADD231PD K(C7), Y1, Y2
	VFMADD231PD Y2, Y7, Y10         // (c4 + c5·r) + r²(c6 + c7·r)
	VFMADD231PD Y10, Y8, Y11
	VMOVUPD K(C8), Y10
	VFMADD231PD K(C9), Y1, Y10
	VMOVUPD K(C10), Y2
	VFMADD231PD K(C11), Y1, Y2
	VFMADD231PD Y2, Y7, Y10
	VMOVUPD K(C12), Y2
	VFMADD231PD K(C13), Y1, Y2
	VFMADD231PD Y2, Y8, Y10         // (c8 + c9·r) + r²(c10 + c11·r) + r⁴(c12 + c13·r)
	VMULPD  Y8, Y8, Y8              // r⁸
	VFMADD231PD Y10, Y8, Y11        // eʳ
	VMULPD  Y6, Y11, Y2             // e = eʳ·2ᵏ
	VADDPD  K(ONE), Y2, Y3          // 1 + e
	VMULPD  Y3, Y12, Y12
	VXORPD  Y4, Y4, Y4
	VCMPPD  $1, Y4, Y0, Y5          // m' < 0
	VANDPD  Y5, Y2, Y10             // e where m' < 0
	VANDNPD K(ONE), Y5, Y11         // 1 where m' ≥ 0
	VORPD   Y10, Y11, Y10
	VDIVPD  Y3, Y10, Y10            // σ(m') = num/(1 + e)
	VMOVUPD (DI)(AX*8), Y5          // y
	VCMPPD  $0, Y4, Y5, Y6          // y = 0
	VCMPPD  $0, K(ONE), Y5, Y11     // y = 1
	VORPD   Y6, Y11, Y11
	VANDPD  Y11, Y9, Y9
	VSUBPD  Y5, Y10, Y10            // r = σ − y
	VMOVUPD Y10, (SI)(AX*8)
	VADDPD  Y10, Y13, Y13
	VMAXPD  Y4, Y0, Y2              // max(m', 0)
	VFNMADD231PD Y5, Y0, Y2         // − y·m'
	VADDPD  Y2, Y14, Y14
	ADDQ    $4, AX
	JMP     loop

done:
	// Fold the four lanes: sums for the loss and the residuals, the
	// product for the logarithm's argument.
	VEXTRACTF128 $1, Y14, X0
	VADDPD  X0, X14, X14
	VPERMILPD $1, X14, X0
	VADDSD  X0, X14, X14
	VEXTRACTF128 $1, Y13, X0
	VADDPD  X0, X13, X13
	VPERMILPD $1, X13, X0
	VADDSD  X0, X13, X13
	VEXTRACTF128 $1, Y12, X0
	VMULPD  X0, X12, X12
	VPERMILPD $1, X12, X0
	VMULSD  X0, X12, X12
	VMOVMSKPD Y9, BX
	CMPQ    BX, $15
	SETEQ   ok+80(FP)
	VZEROUPPER
	MOVSD X14, loss+56(FP)
	MOVSD X13, bias+64(FP)
	MOVSD X12, prod+72(FP)
	RET
