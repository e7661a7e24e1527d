// The elementwise halves of a dense layer on the GPU; the matrix products are cuBLAS
// strided-batched sgemms over the population (fast/mlp.py), so these kernels are what
// would otherwise be three or four separate elementwise passes per layer.
//
// kernel                     version  what it does / fuses
// bias_activation_kernel     1 fused  h = act(a + b[p]) in place over the GEMM's output a,
//                                     the bias broadcast over the batch; act = linear for the
//                                     output layer
// activation_backward_kernel 1 fused  da = act'(h) * dh in place -> db = sum over the batch
//                                     of da, one pass: threads own columns, the batch is
//                                     split over the block's rows and summed in shared
//                                     memory in a fixed order (deterministic)
//
// As on the CPU path (fast/mlp.py), the derivative is read from the layer's output h alone
// (relu and leaky relu have a > 0 exactly where h > 0; tanh' = 1 - h^2), so no
// pre-activation is stored. Activation codes are reference.mlp.ACTIVATIONS' indices:
// 0 relu, 1 leaky_relu (slope 0.2), 2 tanh, -1 linear. Layout: h, dh are (P, B, n)
// contiguous; the bias of GAN p is theta[p * n_params + offset + j].
#define ACT_LINEAR -1
#define ACT_RELU 0
#define ACT_LEAKY_RELU 1
#define ACT_TANH 2
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

// dL/da from dL/dh, given the output h = act(a).
__device__ __forceinline__ float act_backward(int act, float h, float dh) {
  switch (act) {
    case ACT_RELU: return h > 0.0f ? dh : 0.0f;
    case ACT_LEAKY_RELU: return h > 0.0f ? dh : LEAKY_RELU_SLOPE * dh;
    case ACT_TANH: return dh * (1.0f - h * h);
    default: return dh;
  }
}

extern "C" __global__ void bias_activation_kernel(float* h, const float* theta, long long n_params,
                                                  long long offset, int P, int B, int n, int act) {
  const long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= (long long)P * B * n) return;
  const long long p = e / ((long long)B * n);
  h[e] = act_forward(act, h[e] + theta[p * n_params + offset + e % n]);
}

// grid (ceil(n / COLUMNS), P), block (COLUMNS, ROWS). dh is overwritten with da, except for
// the linear activation, where da is dh itself (h is then unused). The bias gradient is
// written unless dtheta is null (the generator's step needs only D's input gradient).
extern "C" __global__ void __launch_bounds__(COLUMNS* ROWS)
    activation_backward_kernel(float* dh, const float* h, int B, int n, int act, float* dtheta,
                               long long n_params, long long offset) {
  __shared__ float partial[ROWS][COLUMNS];
  const int j = blockIdx.x * COLUMNS + threadIdx.x;
  const long long p = blockIdx.y;
  float sum = 0.0f;
  if (j < n) {
    for (int b = threadIdx.y; b < B; b += ROWS) {
      const long long e = (p * B + b) * n + j;
      float value = dh[e];
      if (act != ACT_LINEAR) {
        value = act_backward(act, h[e], value);
        dh[e] = value;
      }
      sum += value;
    }
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && j < n && dtheta != nullptr) {
    for (int r = 1; r < ROWS; ++r) sum += partial[r][threadIdx.x];
    dtheta[p * n_params + offset + j] = sum;
  }
}
