// Philox4x32-10 and the uniform/normal conversions of reference/noise.py, as CUDA device
// functions shared by fast/noise.cu, fast/data.cu and fast/loss.cu.
//
// Element i of a (key, step, stream) stream is word i % 4 of
// Philox(counter = (block lo, block hi, step, stream), key), block = i / 4: a pure function
// of its index, so no result depends on the launch configuration. Uniforms are
// (word + 0.5) * 2^-32 in double (exact); normals are Box-Muller on the word pairs (0, 1)
// and (2, 3) of one block in double, the reference's formula term by term. Callers round
// to float only where a value meets float data, with __dmul_rn/__dadd_rn so that no fused
// multiply-add changes the rounding the CPU path (Numba, no contraction) performs.
#pragma once

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

// 2 * pi as NumPy forms it (2.0 * np.pi is exact doubling of the double nearest pi).
#define TWO_PI (2.0 * 3.141592653589793)
#define TWO_POW_MINUS_32 (1.0 / 4294967296.0)

__device__ __forceinline__ uint4 philox4x32(uint4 c, unsigned int k0, unsigned int k1,
                                            int rounds) {
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k0 += PHILOX_W0;  // the key schedule wraps modulo 2^32, as in the reference
      k1 += PHILOX_W1;
    }
    const unsigned int hi0 = __umulhi(PHILOX_M0, c.x), lo0 = PHILOX_M0 * c.x;
    const unsigned int hi1 = __umulhi(PHILOX_M1, c.z), lo1 = PHILOX_M1 * c.z;
    c = make_uint4(hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0);
  }
  return c;
}

// The four words of block `block` of a stream; key points at (k0, k1) of one GAN.
__device__ __forceinline__ uint4 stream_block(const unsigned int* key, unsigned int step,
                                              unsigned int stream, unsigned long long block) {
  const uint4 counter = make_uint4((unsigned int)(block & 0xFFFFFFFFull),
                                   (unsigned int)(block >> 32), step, stream);
  return philox4x32(counter, key[0], key[1], 10);
}

__device__ __forceinline__ unsigned int word_of(uint4 w, int j) {
  return j == 0 ? w.x : j == 1 ? w.y : j == 2 ? w.z : w.w;
}

__device__ __forceinline__ double uniform_of(unsigned int word) {
  return ((double)word + 0.5) * TWO_POW_MINUS_32;
}

__device__ __forceinline__ double uniform_at(const unsigned int* key, unsigned int step,
                                             unsigned int stream, unsigned long long i) {
  return uniform_of(word_of(stream_block(key, step, stream, i >> 2), (int)(i & 3)));
}

// Standard normal i of a stream, in double: radius * cos(angle) for even i, * sin for odd.
__device__ __forceinline__ double normal_at(const unsigned int* key, unsigned int step,
                                            unsigned int stream, unsigned long long i) {
  const uint4 w = stream_block(key, step, stream, i >> 2);
  const bool second_pair = (i & 2) != 0;
  const double u0 = uniform_of(second_pair ? w.z : w.x);
  const double u1 = uniform_of(second_pair ? w.w : w.y);
  const double radius = sqrt(__dmul_rn(-2.0, log(u0)));
  const double angle = __dmul_rn(TWO_PI, u1);
  return __dmul_rn(radius, (i & 1) ? sin(angle) : cos(angle));
}
