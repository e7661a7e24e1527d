// The elementwise halves of a dense layer on the GPU; the matrix products are cuBLAS
// strided-batched sgemms over the population (fast/mlp.py), so these kernels are what
// would otherwise be three or four separate elementwise passes per layer.
//
// kernel                     version  what it does / fuses
// bias_activation_kernel     1 fused  a += b[p] (broadcast over the batch) -> h = act(a),
//                                     writing both (the backward pass needs a, and h is the
//                                     next layer's input); act = identity for the output layer
// activation_backward_kernel 1 fused  da = dh * act'(a, h) -> db = sum over the batch of da,
//                                     one pass: threads own columns, the batch is split over
//                                     the block's rows and summed in shared memory in a fixed
//                                     order (deterministic)
//
// Activation codes: 0 identity, 1 relu, 2 leaky_relu (slope 0.2), 3 tanh. Layout: a, h, da,
// dh are (P, B, n) contiguous; the bias of GAN p is theta[p * n_params + offset + j].
#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_LEAKY_RELU 2
#define ACT_TANH 3
#define LEAKY_RELU_SLOPE 0.2f

#define COLUMNS 32
#define ROWS 8

__device__ __forceinline__ float act_forward(int act, float a) {
  switch (act) {
    case ACT_RELU: return fmaxf(a, 0.0f);
    case ACT_LEAKY_RELU: return a > 0.0f ? a : LEAKY_RELU_SLOPE * a;
    case ACT_TANH: return tanhf(a);
    default: return a;
  }
}

// dL/da from dL/dh, given the pre-activation a and the output h = act(a).
__device__ __forceinline__ float act_backward(int act, float a, float h, float dh) {
  switch (act) {
    case ACT_RELU: return a > 0.0f ? dh : 0.0f;
    case ACT_LEAKY_RELU: return a > 0.0f ? dh : LEAKY_RELU_SLOPE * dh;
    case ACT_TANH: return dh * (1.0f - h * h);
    default: return dh;
  }
}

// h may alias a (the output layer writes y = a + b in place).
extern "C" __global__ void bias_activation_kernel(float* a, const float* theta, long long n_params,
                                                  long long offset, int P, int B, int n, int act,
                                                  float* h) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * B * n) return;
  const long long p = e / ((long long)B * n);
  const float value = a[e] + theta[p * n_params + offset + e % n];
  a[e] = value;
  h[e] = act_forward(act, value);
}

// grid (ceil(n / COLUMNS), P), block (COLUMNS, ROWS). da may alias dh; a and h are unused
// for the identity (pass dh).
extern "C" __global__ void __launch_bounds__(COLUMNS* ROWS)
    activation_backward_kernel(const float* dh, const float* a, const float* h, int B, int n,
                               int act, float* da, float* dtheta, long long n_params,
                               long long offset) {
  __shared__ float partial[ROWS][COLUMNS];
  const int j = blockIdx.x * COLUMNS + threadIdx.x;
  const long long p = blockIdx.y;
  float sum = 0.0f;
  if (j < n) {
    for (int b = threadIdx.y; b < B; b += ROWS) {
      const long long e = (p * B + b) * n + j;
      const float value = act_backward(act, a[e], h[e], dh[e]);
      da[e] = value;
      sum += value;
    }
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && j < n) {
    for (int r = 1; r < ROWS; ++r) sum += partial[r][threadIdx.x];
    dtheta[p * n_params + offset + j] = sum;
  }
}
