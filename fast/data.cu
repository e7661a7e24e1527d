// Toy-distribution samples on the GPU, one thread per output element.
//
// kernel                  version  what it does / fuses
// sample_mixture_kernel   1 fused  Philox (choice stream) -> uniform -> inverse-CDF component
//                                  (searchsorted side='right' on the double cumulative weights,
//                                  clamped to K - 1) -> Philox (offset stream) -> Box-Muller ->
//                                  mean + std * offset (double) -> float, one pass
// sample_circle_kernel    1 fused  Philox (choice stream) -> angle 2 pi u -> radius (cos, sin)
//
// The component is decided on the double uniform, so it is the reference's component; the
// sample is formed in double and rounded once. out: (P, n, dim) float, contiguous.
#include "philox.cuh"

// means, stds: (K, dim) double; cumulative: (K,) double, non-decreasing.
extern "C" __global__ void sample_mixture_kernel(const double* means, const double* stds,
                                                 const double* cumulative, int K, int D,
                                                 const unsigned int* key,
                                                 const unsigned int* step,
                                                 unsigned int choice_stream,
                                                 unsigned int offset_stream, int P, int n,
                                                 float* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * n * D) return;
  const long long p = e / ((long long)n * D), id = e % ((long long)n * D);
  const unsigned int* key_p = key + 2 * p;
  const double u = uniform_at(key_p, *step, choice_stream, id / D);
  int c = 0;  // the number of cumulative weights <= u: searchsorted(side='right')
  for (int k = 0; k < K; ++k) c += cumulative[k] <= u;
  c = min(c, K - 1);
  const double z = normal_at(key_p, *step, offset_stream, id);
  const int d = (int)(id % D);
  out[e] = (float)__dadd_rn(means[c * D + d], __dmul_rn(stds[c * D + d], z));
}

// out: (P, n, 2).
extern "C" __global__ void sample_circle_kernel(double radius, const unsigned int* key,
                                                const unsigned int* step,
                                                unsigned int choice_stream, int P, int n,
                                                float* out) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * n * 2) return;
  const long long p = e / (2LL * n), i = (e / 2) % n;
  const double angle = __dmul_rn(TWO_PI, uniform_at(key + 2 * p, *step, choice_stream, i));
  out[e] = (float)__dmul_rn(radius, (e & 1) ? sin(angle) : cos(angle));
}
