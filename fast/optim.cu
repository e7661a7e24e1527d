// Optimiser updates on the GPU: one thread per parameter over the whole flat (P * n)
// buffer of the population, so one launch updates every GAN's network.
//
// kernel        version  what it does / fuses
// adam_kernel   1 fused  m, v moment updates -> bias correction -> theta update, one pass
//                        reading (theta, grad, m, v) once and writing (theta, m, v) once
// sgd_kernel    1        theta -= lr * grad
//
// The bias corrections (1 - beta1^t, 1 - beta2^t) are read from device memory, so a
// captured CUDA graph replays the update for step after step with only those two doubles
// rewritten. The hyperparameters arrive in double and the per-element coefficients are
// rounded to float once (1 - beta2 is formed in double: in float it would be off by 1e-5).
extern "C" __global__ void adam_kernel(float* theta, const float* grad, float* m, float* v,
                                       long long n, double lr, double beta1, double beta2,
                                       double eps, const double* bias_correction) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float g = grad[i];
  const float m_i = (float)beta1 * m[i] + (float)(1.0 - beta1) * g;
  const float v_i = (float)beta2 * v[i] + (float)(1.0 - beta2) * g * g;
  m[i] = m_i;
  v[i] = v_i;
  const float m_hat = m_i / (float)bias_correction[0];
  const float v_hat = v_i / (float)bias_correction[1];
  theta[i] -= (float)lr * m_hat / (sqrtf(v_hat) + (float)eps);
}

extern "C" __global__ void sgd_kernel(float* theta, const float* grad, long long n, float lr) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) theta[i] -= lr * grad[i];
}
