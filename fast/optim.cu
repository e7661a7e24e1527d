// Adam on the GPU: one thread per parameter over the whole flat (P * n)
// buffer of the population, so one launch updates every GAN's network.
//
// kernel        version  what it does / fuses
// adam_kernel   1 fused  m, v moment updates -> bias correction -> theta update, one pass
//                        reading (theta, grad, m, v) once and writing (theta, m, v) once
//
// As on the CPU path (fast/optim.py), each element's update is computed in double from its
// float moments and rounded once on store. The bias corrections (1 - beta1^t, 1 - beta2^t)
// are read from device memory, so a captured CUDA graph replays the update for step after
// step with only those two doubles rewritten.
extern "C" __global__ void adam_kernel(float* theta, const float* grad, float* m, float* v,
                                       long long n, double lr, double beta1, double beta2,
                                       double eps, const double* bias_correction) {
  const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double g = grad[i];
  const double m_i = beta1 * (double)m[i] + (1.0 - beta1) * g;
  const double v_i = beta2 * (double)v[i] + (1.0 - beta2) * g * g;
  m[i] = (float)m_i;
  v[i] = (float)v_i;
  const double update = lr * (m_i / bias_correction[0]) / (sqrt(v_i / bias_correction[1]) + eps);
  theta[i] = (float)((double)theta[i] - update);
}
