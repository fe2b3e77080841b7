// Code written by hand for this package (see sha256x8.go); not generated.

//go:build !purego

#include "textflag.h"

// SHA-256 (FIPS 180-4, section 6.2.2) on eight independent messages at
// once: each 32-bit lane of a YMM register belongs to one message. AVX2 has
// no vector rotate, so ROTR(x, n) is (x >> n) ^ (x << (32-n)): the two
// halves never overlap, so XOR combines them as OR would.

// ROUND runs one round. a..h name the registers holding the working
// variables; the caller rotates the names instead of moving registers. On
// return h holds the new a and d the new e. woff is the round's offset in
// the message schedule (DI), koff its constant's offset (SI).
#define ROUND(a, b, c, d, e, f, g, h, woff, koff) \
	VPBROADCASTD koff(SI), Y10; \
	VPADDD woff(DI), h, h; \
	VPADDD Y10, h, h; \
	VPSRLD $6, e, Y8; \
	VPSLLD $26, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSRLD $11, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSLLD $21, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSRLD $25, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSLLD $7, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPADDD Y8, h, h; \
	VPAND f, e, Y8; \
	VPANDN g, e, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPADDD Y8, h, h; \
	VPADDD h, d, d; \
	VPSRLD $2, a, Y8; \
	VPSLLD $30, a, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSRLD $13, a, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSLLD $19, a, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSRLD $22, a, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPSLLD $10, a, Y9; \
	VPXOR Y9, Y8, Y8; \
	VPADDD Y8, h, h; \
	VPOR b, a, Y8; \
	VPAND c, Y8, Y8; \
	VPAND b, a, Y9; \
	VPOR Y9, Y8, Y8; \
	VPADDD Y8, h, h

// TRANSPOSE turns Y0-Y7, eight lanes' eight consecutive message words
// each, into eight words' values in all lanes, and stores them at 0(DI) to
// 224(DI). It uses Y8-Y15.
#define TRANSPOSE \
	VPUNPCKLDQ Y1, Y0, Y8; \
	VPUNPCKHDQ Y1, Y0, Y9; \
	VPUNPCKLDQ Y3, Y2, Y10; \
	VPUNPCKHDQ Y3, Y2, Y11; \
	VPUNPCKLDQ Y5, Y4, Y12; \
	VPUNPCKHDQ Y5, Y4, Y13; \
	VPUNPCKLDQ Y7, Y6, Y14; \
	VPUNPCKHDQ Y7, Y6, Y15; \
	VPUNPCKLQDQ Y10, Y8, Y0; \
	VPUNPCKHQDQ Y10, Y8, Y1; \
	VPUNPCKLQDQ Y11, Y9, Y2; \
	VPUNPCKHQDQ Y11, Y9, Y3; \
	VPUNPCKLQDQ Y14, Y12, Y4; \
	VPUNPCKHQDQ Y14, Y12, Y5; \
	VPUNPCKLQDQ Y15, Y13, Y6; \
	VPUNPCKHQDQ Y15, Y13, Y7; \
	VPERM2I128 $0x20, Y4, Y0, Y8; \
	VMOVDQU Y8, 0(DI); \
	VPERM2I128 $0x31, Y4, Y0, Y8; \
	VMOVDQU Y8, 128(DI); \
	VPERM2I128 $0x20, Y5, Y1, Y8; \
	VMOVDQU Y8, 32(DI); \
	VPERM2I128 $0x31, Y5, Y1, Y8; \
	VMOVDQU Y8, 160(DI); \
	VPERM2I128 $0x20, Y6, Y2, Y8; \
	VMOVDQU Y8, 64(DI); \
	VPERM2I128 $0x31, Y6, Y2, Y8; \
	VMOVDQU Y8, 192(DI); \
	VPERM2I128 $0x20, Y7, Y3, Y8; \
	VMOVDQU Y8, 96(DI); \
	VPERM2I128 $0x31, Y7, Y3, Y8; \
	VMOVDQU Y8, 224(DI)

// LOAD8 loads 32 bytes at off from each lane's block into Y0-Y7, as
// big-endian words.
#define LOAD8(off) \
	MOVQ 0(BX), R8; \
	VMOVDQU off(R8), Y0; \
	VPSHUFB bswap32<>(SB), Y0, Y0; \
	MOVQ 8(BX), R8; \
	VMOVDQU off(R8), Y1; \
	VPSHUFB bswap32<>(SB), Y1, Y1; \
	MOVQ 16(BX), R8; \
	VMOVDQU off(R8), Y2; \
	VPSHUFB bswap32<>(SB), Y2, Y2; \
	MOVQ 24(BX), R8; \
	VMOVDQU off(R8), Y3; \
	VPSHUFB bswap32<>(SB), Y3, Y3; \
	MOVQ 32(BX), R8; \
	VMOVDQU off(R8), Y4; \
	VPSHUFB bswap32<>(SB), Y4, Y4; \
	MOVQ 40(BX), R8; \
	VMOVDQU off(R8), Y5; \
	VPSHUFB bswap32<>(SB), Y5, Y5; \
	MOVQ 48(BX), R8; \
	VMOVDQU off(R8), Y6; \
	VPSHUFB bswap32<>(SB), Y6, Y6; \
	MOVQ 56(BX), R8; \
	VMOVDQU off(R8), Y7; \
	VPSHUFB bswap32<>(SB), Y7, Y7

// func block8(h *[8][8]uint32, w *[64][8]uint32, p *[8]*byte)
//
// block8 hashes one 64-byte block of each of eight messages: h[i][lane] is
// word i of a lane's state and p[lane] points to its block. It fills w with
// the message schedule (w[t][lane] is word t) and adds the compressed block
// into h.
TEXT ·block8(SB), NOSPLIT, $0-24
	MOVQ h+0(FP), AX
	MOVQ w+8(FP), DI
	MOVQ p+16(FP), BX

	LOAD8(0)
	TRANSPOSE
	LOAD8(32)
	ADDQ $256, DI
	TRANSPOSE
	SUBQ $256, DI

	// Message schedule: W[t] = σ1(W[t-2]) + W[t-7] + σ0(W[t-15]) + W[t-16].
	LEAQ 512(DI), BX
	MOVQ $48, CX

schedule:
	VMOVDQU -64(BX), Y0
	VPSRLD $17, Y0, Y1
	VPSLLD $15, Y0, Y2
	VPXOR Y2, Y1, Y1
	VPSRLD $19, Y0, Y2
	VPXOR Y2, Y1, Y1
	VPSLLD $13, Y0, Y2
	VPXOR Y2, Y1, Y1
	VPSRLD $10, Y0, Y2
	VPXOR Y2, Y1, Y1
	VMOVDQU -480(BX), Y0
	VPSRLD $7, Y0, Y3
	VPSLLD $25, Y0, Y2
	VPXOR Y2, Y3, Y3
	VPSRLD $18, Y0, Y2
	VPXOR Y2, Y3, Y3
	VPSLLD $14, Y0, Y2
	VPXOR Y2, Y3, Y3
	VPSRLD $3, Y0, Y2
	VPXOR Y2, Y3, Y3
	VPADDD Y3, Y1, Y1
	VPADDD -224(BX), Y1, Y1
	VPADDD -512(BX), Y1, Y1
	VMOVDQU Y1, (BX)
	ADDQ $32, BX
	DECQ CX
	JNZ schedule

	VMOVDQU 0(AX), Y0
	VMOVDQU 32(AX), Y1
	VMOVDQU 64(AX), Y2
	VMOVDQU 96(AX), Y3
	VMOVDQU 128(AX), Y4
	VMOVDQU 160(AX), Y5
	VMOVDQU 192(AX), Y6
	VMOVDQU 224(AX), Y7
	LEAQ k256<>(SB), SI
	MOVQ $8, CX

rounds:
	ROUND(Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, 0, 0)
	ROUND(Y7, Y0, Y1, Y2, Y3, Y4, Y5, Y6, 32, 4)
	ROUND(Y6, Y7, Y0, Y1, Y2, Y3, Y4, Y5, 64, 8)
	ROUND(Y5, Y6, Y7, Y0, Y1, Y2, Y3, Y4, 96, 12)
	ROUND(Y4, Y5, Y6, Y7, Y0, Y1, Y2, Y3, 128, 16)
	ROUND(Y3, Y4, Y5, Y6, Y7, Y0, Y1, Y2, 160, 20)
	ROUND(Y2, Y3, Y4, Y5, Y6, Y7, Y0, Y1, 192, 24)
	ROUND(Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y0, 224, 28)
	ADDQ $256, DI
	ADDQ $32, SI
	DECQ CX
	JNZ rounds

	VPADDD 0(AX), Y0, Y0
	VMOVDQU Y0, 0(AX)
	VPADDD 32(AX), Y1, Y1
	VMOVDQU Y1, 32(AX)
	VPADDD 64(AX), Y2, Y2
	VMOVDQU Y2, 64(AX)
	VPADDD 96(AX), Y3, Y3
	VMOVDQU Y3, 96(AX)
	VPADDD 128(AX), Y4, Y4
	VMOVDQU Y4, 128(AX)
	VPADDD 160(AX), Y5, Y5
	VMOVDQU Y5, 160(AX)
	VPADDD 192(AX), Y6, Y6
	VMOVDQU Y6, 192(AX)
	VPADDD 224(AX), Y7, Y7
	VMOVDQU Y7, 224(AX)
	VZEROUPPER
	RET

// func haveAVX2() bool
//
// haveAVX2 reports whether the CPU has AVX2 and the OS saves YMM registers.
TEXT ·haveAVX2(SB), NOSPLIT, $0-1
	XORL AX, AX
	XORL CX, CX
	CPUID
	CMPL AX, $7
	JB   no
	MOVL $1, AX
	XORL CX, CX
	CPUID
	ANDL $(1<<27 | 1<<28), CX // OSXSAVE, AVX
	CMPL CX, $(1<<27 | 1<<28)
	JNE  no
	XORL CX, CX
	XGETBV
	ANDL $6, AX // XMM and YMM state enabled
	CMPL AX, $6
	JNE  no
	MOVL $7, AX
	XORL CX, CX
	CPUID
	TESTL $(1<<5), BX // AVX2
	JZ   no
	MOVB $1, ret+0(FP)
	RET

no:
	MOVB $0, ret+0(FP)
	RET

DATA k256<>+0(SB)/4, $0x428a2f98
DATA k256<>+4(SB)/4, $0x71374491
DATA k256<>+8(SB)/4, $0xb5c0fbcf
DATA k256<>+12(SB)/4, $0xe9b5dba5
DATA k256<>+16(SB)/4, $0x3956c25b
DATA k256<>+20(SB)/4, $0x59f111f1
DATA k256<>+24(SB)/4, $0x923f82a4
DATA k256<>+28(SB)/4, $0xab1c5ed5
DATA k256<>+32(SB)/4, $0xd807aa98
DATA k256<>+36(SB)/4, $0x12835b01
DATA k256<>+40(SB)/4, $0x243185be
DATA k256<>+44(SB)/4, $0x550c7dc3
DATA k256<>+48(SB)/4, $0x72be5d74
DATA k256<>+52(SB)/4, $0x80deb1fe
DATA k256<>+56(SB)/4, $0x9bdc06a7
DATA k256<>+60(SB)/4, $0xc19bf174
DATA k256<>+64(SB)/4, $0xe49b69c1
DATA k256<>+68(SB)/4, $0xefbe4786
DATA k256<>+72(SB)/4, $0x0fc19dc6
DATA k256<>+76(SB)/4, $0x240ca1cc
DATA k256<>+80(SB)/4, $0x2de92c6f
DATA k256<>+84(SB)/4, $0x4a7484aa
DATA k256<>+88(SB)/4, $0x5cb0a9dc
DATA k256<>+92(SB)/4, $0x76f988da
DATA k256<>+96(SB)/4, $0x983e5152
DATA k256<>+100(SB)/4, $0xa831c66d
DATA k256<>+104(SB)/4, $0xb00327c8
DATA k256<>+108(SB)/4, $0xbf597fc7
DATA k256<>+112(SB)/4, $0xc6e00bf3
DATA k256<>+116(SB)/4, $0xd5a79147
DATA k256<>+120(SB)/4, $0x06ca6351
DATA k256<>+124(SB)/4, $0x14292967
DATA k256<>+128(SB)/4, $0x27b70a85
DATA k256<>+132(SB)/4, $0x2e1b2138
DATA k256<>+136(SB)/4, $0x4d2c6dfc
DATA k256<>+140(SB)/4, $0x53380d13
DATA k256<>+144(SB)/4, $0x650a7354
DATA k256<>+148(SB)/4, $0x766a0abb
DATA k256<>+152(SB)/4, $0x81c2c92e
DATA k256<>+156(SB)/4, $0x92722c85
DATA k256<>+160(SB)/4, $0xa2bfe8a1
DATA k256<>+164(SB)/4, $0xa81a664b
DATA k256<>+168(SB)/4, $0xc24b8b70
DATA k256<>+172(SB)/4, $0xc76c51a3
DATA k256<>+176(SB)/4, $0xd192e819
DATA k256<>+180(SB)/4, $0xd6990624
DATA k256<>+184(SB)/4, $0xf40e3585
DATA k256<>+188(SB)/4, $0x106aa070
DATA k256<>+192(SB)/4, $0x19a4c116
DATA k256<>+196(SB)/4, $0x1e376c08
DATA k256<>+200(SB)/4, $0x2748774c
DATA k256<>+204(SB)/4, $0x34b0bcb5
DATA k256<>+208(SB)/4, $0x391c0cb3
DATA k256<>+212(SB)/4, $0x4ed8aa4a
DATA k256<>+216(SB)/4, $0x5b9cca4f
DATA k256<>+220(SB)/4, $0x682e6ff3
DATA k256<>+224(SB)/4, $0x748f82ee
DATA k256<>+228(SB)/4, $0x78a5636f
DATA k256<>+232(SB)/4, $0x84c87814
DATA k256<>+236(SB)/4, $0x8cc70208
DATA k256<>+240(SB)/4, $0x90befffa
DATA k256<>+244(SB)/4, $0xa4506ceb
DATA k256<>+248(SB)/4, $0xbef9a3f7
DATA k256<>+252(SB)/4, $0xc67178f2
GLOBL k256<>(SB), RODATA|NOPTR, $256

DATA bswap32<>+0(SB)/8, $0x0405060700010203
DATA bswap32<>+8(SB)/8, $0x0c0d0e0f08090a0b
DATA bswap32<>+16(SB)/8, $0x0405060700010203
DATA bswap32<>+24(SB)/8, $0x0c0d0e0f08090a0b
GLOBL bswap32<>(SB), RODATA|NOPTR, $32
