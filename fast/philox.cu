// Philox streams on the GPU, one thread per output element: the kernels of fast/philox.py.
//
// kernel                     version  what it does / fuses
// philox4x32_kernel          1        Philox4x32 of N given counters (the known-answer check)
// random_words_kernel        1        (P, n) uint32 words of one stream, GAN p under key[p]
// normal_kernel              1        (P, n) float normals: Philox -> Box-Muller (double) -> float
//
// Every kernel reads the step from device memory (`step`, one uint32), so a captured CUDA
// graph can be replayed for step after step with only that word rewritten. Keys are (P, 2)
// uint32, one per GAN. The generator itself is philox.cuh, shared with the other sources.
#include "philox.cuh"

extern "C" __global__ void philox4x32_kernel(const uint4* counter, const unsigned int* key,
                                             int rounds, long long n, uint4* out) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = philox4x32(counter[i], key[0], key[1], rounds);
}

extern "C" __global__ void random_words_kernel(const unsigned int* key, const unsigned int* step,
                                               unsigned int stream, int P, long long n,
                                               unsigned int* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * n) return;
  const long long p = e / n, i = e % n;
  out[e] = word_of(stream_block(key + 2 * p, *step, stream, i >> 2), (int)(i & 3));
}

extern "C" __global__ void normal_kernel(const unsigned int* key, const unsigned int* step,
                                         unsigned int stream, int P, long long n, float* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * n) return;
  const long long p = e / n, i = e % n;
  out[e] = (float)normal_at(key + 2 * p, *step, stream, i);
}
