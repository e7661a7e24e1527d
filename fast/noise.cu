// Instance noise on the GPU, one thread per output element: the kernels of fast/noise.py.
//
// kernel                     version  what it does / fuses
// add_instance_noise_kernel  1 fused  Philox -> Box-Muller -> * sigma[p] -> + x, one pass; the
//                                     noise never exists as an array (the reference's mirror)
// noise_pair_kernel          2 fused  the same for real and fake samples in one launch,
//                                     writing straight into D's (P, 2n) input: rows of the
//                                     real half from the real stream, the fake half from the
//                                     fake stream
//
// Every kernel reads the step from device memory (`step`, one uint32), so a captured CUDA
// graph can be replayed for step after step with only that word rewritten. Keys are (P, 2)
// uint32, one per GAN. The sum x + sigma * eps is formed in double and rounded once, as
// the CPU path does; sigma[p] = 0 gives x exactly.
#include "philox.cuh"

__device__ __forceinline__ float noisy(float x, float sigma, double eps) {
  return (float)__dadd_rn((double)x, __dmul_rn((double)sigma, eps));
}

// x, out: (P, n) contiguous; out may alias x.
extern "C" __global__ void add_instance_noise_kernel(const float* x, const float* sigma,
                                                     const unsigned int* key,
                                                     const unsigned int* step,
                                                     unsigned int stream, int P, long long n,
                                                     float* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * n) return;
  const long long p = e / n, i = e % n;
  out[e] = noisy(x[e], sigma[p], normal_at(key + 2 * p, *step, stream, i));
}

// x_real, x_fake: (P, n) contiguous, n = B * dim; out: (P, 2n), the real rows then the fake.
extern "C" __global__ void noise_pair_kernel(const float* x_real, const float* x_fake,
                                             const float* sigma, const unsigned int* key,
                                             const unsigned int* step, unsigned int real_stream,
                                             unsigned int fake_stream, int P, long long n,
                                             float* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= 2LL * P * n) return;
  const long long p = e / (2 * n), j = e % (2 * n);
  const bool fake = j >= n;
  const long long i = fake ? j - n : j;
  const float x = fake ? x_fake[p * n + i] : x_real[p * n + i];
  const double eps = normal_at(key + 2 * p, *step, fake ? fake_stream : real_stream, i);
  out[e] = noisy(x, sigma[p], eps);
}
