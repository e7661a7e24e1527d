// The logistic loss on the GPU: one block per GAN, each thread a strided share of its
// logits, the per-GAN mean reduced in shared memory in a fixed order (deterministic).
//
// kernel                      version  what it does / fuses
// generator_loss_kernel       1 fused  softplus(l) - t l -> sign (sigmoid(l) - t) -> mean, one
//                                      pass, with a constant target t and a sign (the
//                                      non-saturating loss: t = 1, +; minimax: t = 0, -)
// discriminator_loss_kernel   1 fused  Philox label flips (u < label_flip on the double
//                                      uniform, indices 0..B-1 real, B..2B-1 fake) ->
//                                      one-sided smoothing -> stable softplus loss ->
//                                      gradient -> per-GAN mean over 2B, plus the mean
//                                      D(x) on real and fake for the training record
//
// Per-element terms are computed in double from the float logits (the reduction is short,
// and double keeps |l| >= 100 exact), summed in double and rounded once. Row p of a logit
// or gradient array starts at p * stride, so D's (P, 2B) output can be read and written in
// place with the real half at offset 0 and the fake half at offset B.
#include "philox.cuh"

#define LOSS_THREADS 256

__device__ __forceinline__ double softplus(double l) { return fmax(l, 0.0) + log1p(exp(-fabs(l))); }

__device__ __forceinline__ double sigmoid(double l) {
  const double e = exp(-fabs(l));  // exp of a non-positive number only: never overflows
  return l >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

// Sum v over the block's LOSS_THREADS threads; the result is valid in thread 0.
__device__ __forceinline__ double block_sum(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (int half = LOSS_THREADS / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) shared[threadIdx.x] += shared[threadIdx.x + half];
    __syncthreads();
  }
  const double total = shared[0];
  __syncthreads();  // the buffer is reused by the next sum
  return total;
}

// logit, dlogit: (P, N) contiguous; loss: (P,).
extern "C" __global__ void __launch_bounds__(LOSS_THREADS)
    generator_loss_kernel(const float* logit, int N, double target, double sign, float* loss,
                          float* dlogit) {
  __shared__ double shared[LOSS_THREADS];
  const long long row = (long long)blockIdx.x * N;
  double sum = 0.0;
  for (int i = threadIdx.x; i < N; i += LOSS_THREADS) {
    const double l = logit[row + i];
    sum += softplus(l) - target * l;
    dlogit[row + i] = (float)(sign * (sigmoid(l) - target) / N);
  }
  sum = block_sum(sum, shared);
  if (threadIdx.x == 0) loss[blockIdx.x] = (float)(sign * sum / N);
}

// logit_real/_fake, dlogit_real/_fake: row p at p * stride, B entries each; loss, d_real,
// d_fake: (P,).
extern "C" __global__ void __launch_bounds__(LOSS_THREADS) discriminator_loss_kernel(
    const float* logit_real, const float* logit_fake, long long stride, int B,
    double real_target, double label_flip, const unsigned int* key, const unsigned int* step,
    unsigned int flip_stream, float* loss, float* dlogit_real, float* dlogit_fake, float* d_real,
    float* d_fake) {
  __shared__ double shared[LOSS_THREADS];
  const int p = blockIdx.x;
  const long long row = (long long)p * stride;
  const unsigned int* key_p = key + 2 * p;
  const double n = 2.0 * B;
  double sum = 0.0, sum_real = 0.0, sum_fake = 0.0;
  for (int j = threadIdx.x; j < 2 * B; j += LOSS_THREADS) {
    const bool fake = j >= B;
    const int i = fake ? j - B : j;
    const double l = fake ? logit_fake[row + i] : logit_real[row + i];
    double hard = fake ? 0.0 : 1.0;
    if (uniform_at(key_p, *step, flip_stream, j) < label_flip) hard = 1.0 - hard;
    const double t = hard * real_target;
    const double s = sigmoid(l);
    sum += softplus(l) - t * l;
    if (fake) {
      dlogit_fake[row + i] = (float)((s - t) / n);
      sum_fake += s;
    } else {
      dlogit_real[row + i] = (float)((s - t) / n);
      sum_real += s;
    }
  }
  sum = block_sum(sum, shared);
  sum_real = block_sum(sum_real, shared);
  sum_fake = block_sum(sum_fake, shared);
  if (threadIdx.x == 0) {
    loss[p] = (float)(sum / n);
    d_real[p] = (float)(sum_real / B);
    d_fake[p] = (float)(sum_fake / B);
  }
}
