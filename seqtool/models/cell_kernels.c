/* Per-step pointwise kernels of the LSTM and GRU (seqtool/models/bf16_rnn.py) and the layer-normalised LSTM
 * (seqtool/models/lnlstm_steps.py): one C call per step and layer where eager torch makes fifteen to thirty small
 * ones (issues 14, 15). Plain C on raw pointers, no torch headers, so it compiles
 * in about a second; seqtool/models/ckernels.py builds it on first use. Rows are (B, 4H) in torch's gate order
 * i, f, g, o, or (B, H); all contiguous. Each kernel comes twice: "bf16" reads the recurrent matmul's result
 * and writes h(t), dG(t) also in bfloat16 (round to nearest even), "f32" is the no-cast twin the tests compare
 * with torch. Vectorised by gcc with -fopenmp-simd and glibc's vector expf/tanhf (libmvec). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint16_t bf16;

static inline float sigm(float x) { return 1.f / (1.f + expf(-x)); }
static inline float bf16_load(bf16 b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
static inline bf16 bf16_store(float f) {  /* round to nearest even on the top 16 bits, as torch's .to(bfloat16) */
    uint32_t u; memcpy(&u, &f, 4); u += 0x7FFFu + ((u >> 16) & 1u); return (bf16)(u >> 16);
}
static inline float f32_load(float f) { return f; }
static inline float f32_store(float f) { return f; }

/* Forward: pre = gx + gh (gx the fp32 input part with both biases, gh h(t-1) W_hh^T); acts = (i, f, g, o);
 * c = f c_prev + i g; tanh_c = tanh(c); h = o tanh_c, in fp32 and in the compute type (hc). */
#define LSTM_FWD(NAME, T, LOAD, STORE)                                                                     \
void NAME(int B, int H, const float *gx, const T *gh, const float *c_prev, float *c, float *acts,        \
          float *tanh_c, float *h, T *hc) {                                                                \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *x = gx + (size_t)b * 4 * H; const T *r = gh + (size_t)b * 4 * H;                     \
        float *a = acts + (size_t)b * 4 * H; size_t k = (size_t)b * H;                                     \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float i = sigm(x[j] + LOAD(r[j])), f = sigm(x[H + j] + LOAD(r[H + j]));                       \
            float g = tanhf(x[2 * H + j] + LOAD(r[2 * H + j])), o = sigm(x[3 * H + j] + LOAD(r[3 * H + j])); \
            a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o;                                    \
            float cn = f * c_prev[k + j] + i * g, tc = tanhf(cn), hv = o * tc;                             \
            c[k + j] = cn; tanh_c[k + j] = tc; h[k + j] = hv; hc[k + j] = STORE(hv);                       \
        }                                                                                                  \
    }                                                                                                      \
}
LSTM_FWD(lstm_fwd_bf16, bf16, bf16_load, bf16_store)
LSTM_FWD(lstm_fwd_f32, float, f32_load, f32_store)

/* Backward: dh = dy + dh_rec (dh_rec = dG(t+1) W_hh, NULL at the last step, whose dh_last dy already holds);
 * dc += dh o (1 - tanh_c^2); dG = (dc i' g, dc f' c_prev, dc i g', dh o' tanh_c) with s' = s (1 - s) and
 * g' = 1 - g^2, in fp32 (dg) and the compute type (dgc); then dc *= f, dc(t-1). */
#define LSTM_BWD(NAME, T, LOAD, STORE)                                                                     \
void NAME(int B, int H, const float *dy, const T *dh_rec, float *dc, const float *acts, const float *c_prev, \
          const float *tanh_c, float *dg, T *dgc) {                                                        \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *a = acts + (size_t)b * 4 * H; float *d = dg + (size_t)b * 4 * H;                     \
        T *dq = dgc + (size_t)b * 4 * H; size_t k = (size_t)b * H;                                         \
        const T *r = dh_rec ? dh_rec + k : NULL;                                                           \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float dh = dy[k + j] + (r ? LOAD(r[j]) : 0.f);                                                 \
            float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j], tc = tanh_c[k + j];          \
            float dcv = dc[k + j] + dh * o * (1.f - tc * tc);                                              \
            float di = dcv * i * (1.f - i) * g, df = dcv * f * (1.f - f) * c_prev[k + j];                  \
            float dgg = dcv * i * (1.f - g * g), dout = dh * o * (1.f - o) * tc;                           \
            d[j] = di; d[H + j] = df; d[2 * H + j] = dgg; d[3 * H + j] = dout;                             \
            dq[j] = STORE(di); dq[H + j] = STORE(df); dq[2 * H + j] = STORE(dgg); dq[3 * H + j] = STORE(dout); \
            dc[k + j] = dcv * f;                                                                           \
        }                                                                                                  \
    }                                                                                                      \
}
LSTM_BWD(lstm_bwd_bf16, bf16, bf16_load, bf16_store)
LSTM_BWD(lstm_bwd_f32, float, f32_load, f32_store)

/* GRU forward (torch's order r, z, n): gh = h(t-1) W_hh^T without its bias; r, z = sigmoid(gx + gh + b_hh);
 * hn = gh_n + b_hn (kept: r scales it); n = tanh(gx_n + r hn); h = n + z (h_prev - n). */
#define GRU_FWD(NAME, T, LOAD, STORE)                                                                      \
void NAME(int B, int H, const float *gx, const T *gh, const float *b_hh, const float *h_prev, float *acts, \
          float *hn, float *h, T *hc) {                                                                    \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *x = gx + (size_t)b * 3 * H; const T *q = gh + (size_t)b * 3 * H;                     \
        float *a = acts + (size_t)b * 3 * H; size_t k = (size_t)b * H;                                     \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float r = sigm(x[j] + (LOAD(q[j]) + b_hh[j])), z = sigm(x[H + j] + (LOAD(q[H + j]) + b_hh[H + j])); \
            float hv_n = LOAD(q[2 * H + j]) + b_hh[2 * H + j], n = tanhf(x[2 * H + j] + r * hv_n);         \
            float hv = n + z * (h_prev[k + j] - n);                                                        \
            a[j] = r; a[H + j] = z; a[2 * H + j] = n; hn[k + j] = hv_n; h[k + j] = hv; hc[k + j] = STORE(hv); \
        }                                                                                                  \
    }                                                                                                      \
}
GRU_FWD(gru_fwd_bf16, bf16, bf16_load, bf16_store)
GRU_FWD(gru_fwd_f32, float, f32_load, f32_store)

/* GRU backward: dh = dy + carry + dh_rec (carry = dh(t+1) z(t+1), the direct path, dh_last at the last step;
 * dh_rec = dG_h(t+1) W_hh, NULL at the last step); dn = dh (1 - z)(1 - n^2); dG_x = (dn hn r (1 - r),
 * dh (h_prev - n) z (1 - z), dn); dG_h = (the same r and z parts, dn r), in fp32 and the compute type (dghc);
 * carry becomes dh z, to which the caller adds dG_h(t) W_hh after the last step. */
#define GRU_BWD(NAME, T, LOAD, STORE)                                                                      \
void NAME(int B, int H, const float *dy, const T *dh_rec, float *carry, const float *acts, const float *hn, \
          const float *h_prev, float *dgx, float *dgh, T *dghc) {                                          \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *a = acts + (size_t)b * 3 * H; size_t k = (size_t)b * H, m = (size_t)b * 3 * H;        \
        const T *q = dh_rec ? dh_rec + k : NULL;                                                           \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float dh = dy[k + j] + carry[k + j] + (q ? LOAD(q[j]) : 0.f);                                  \
            float r = a[j], z = a[H + j], n = a[2 * H + j];                                                \
            float dn = dh * (1.f - z) * (1.f - n * n), dr = dn * hn[k + j] * r * (1.f - r);                \
            float dz = dh * (h_prev[k + j] - n) * z * (1.f - z), dhn = dn * r;                             \
            dgx[m + j] = dr; dgx[m + H + j] = dz; dgx[m + 2 * H + j] = dn;                                 \
            dgh[m + j] = dr; dgh[m + H + j] = dz; dgh[m + 2 * H + j] = dhn;                                \
            dghc[m + j] = STORE(dr); dghc[m + H + j] = STORE(dz); dghc[m + 2 * H + j] = STORE(dhn);        \
            carry[k + j] = dh * z;                                                                         \
        }                                                                                                  \
    }                                                                                                      \
}
GRU_BWD(gru_bwd_bf16, bf16, bf16_load, bf16_store)
GRU_BWD(gru_bwd_f32, float, f32_load, f32_store)

/* Layer-normalised LSTM (seqtool/models/lnlstm_steps.py; Ba, Kiros & Hinton 2016), torch's gate order i, f, g, o.
 * LN over a row of n values: mean m, rstd = 1 / sqrt(var + 1e-5) with the biased variance (F.layer_norm's).
 * Forward: x = wx (W x(t), fp32, 4H) and r = gh (h(t-1) U^T, 4H) are normalised on their own: xn, rn;
 * z = a_x xn + a_h rn + b; acts = gates; c = f c_prev + i g; cn = LN(c) without gain; tanh_c = tanh(a_c cn + b_c);
 * h = o tanh_c, also in the compute type (hc). rstd holds the row's three 1/std: r's, c's, x's. */
#define LN_EPS 1e-5f
#define LNLSTM_FWD(NAME, T, LOAD, STORE)                                                                   \
void NAME(int B, int H, const float *wx, const T *gh, const float *a_x, const float *a_h, const float *bias, \
          const float *a_c, const float *b_c, const float *c_prev, float *c, float *acts, float *xn,       \
          float *rn, float *rstd, float *cn, float *tanh_c, float *h, T *hc) {                             \
    const int G = 4 * H;                                                                                   \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *x = wx + (size_t)b * G; const T *r = gh + (size_t)b * G;                              \
        float *a = acts + (size_t)b * G, *p = xn + (size_t)b * G, *q = rn + (size_t)b * G;                \
        size_t k = (size_t)b * H;                                                                          \
        float s = 0.f, sx = 0.f, v = 0.f, vx = 0.f;                                                        \
        _Pragma("omp simd reduction(+:s,sx)")                                                              \
        for (int j = 0; j < G; j++) { s += LOAD(r[j]); sx += x[j]; }                                       \
        const float m = s / G, mx = sx / G;                                                                \
        _Pragma("omp simd reduction(+:v,vx)")                                                              \
        for (int j = 0; j < G; j++) { float d = LOAD(r[j]) - m, e = x[j] - mx; v += d * d; vx += e * e; }  \
        const float rs = 1.f / sqrtf(v / G + LN_EPS), rx = 1.f / sqrtf(vx / G + LN_EPS);                  \
        rstd[3 * b] = rs; rstd[3 * b + 2] = rx;                                                            \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < G; j++) {                                                                      \
            float nr = (LOAD(r[j]) - m) * rs, nx = (x[j] - mx) * rx;                                       \
            q[j] = nr; p[j] = nx; a[j] = a_x[j] * nx + a_h[j] * nr + bias[j];                              \
        }                                                                                                  \
        float sc = 0.f;                                                                                    \
        _Pragma("omp simd reduction(+:sc)")                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float i = sigm(a[j]), f = sigm(a[H + j]), g = tanhf(a[2 * H + j]), o = sigm(a[3 * H + j]);     \
            a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o;                                    \
            float cv = f * c_prev[k + j] + i * g;                                                          \
            c[k + j] = cv; sc += cv;                                                                       \
        }                                                                                                  \
        const float mc = sc / H; float vc = 0.f;                                                           \
        _Pragma("omp simd reduction(+:vc)")                                                                \
        for (int j = 0; j < H; j++) { float d = c[k + j] - mc; vc += d * d; }                              \
        const float rc = 1.f / sqrtf(vc / H + LN_EPS);                                                     \
        rstd[3 * b + 1] = rc;                                                                              \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float nc = (c[k + j] - mc) * rc, tc = tanhf(a_c[j] * nc + b_c[j]), hv = a[3 * H + j] * tc;     \
            cn[k + j] = nc; tanh_c[k + j] = tc; h[k + j] = hv; hc[k + j] = STORE(hv);                      \
        }                                                                                                  \
    }                                                                                                      \
}
LNLSTM_FWD(lnlstm_fwd_bf16, bf16, bf16_load, bf16_store)
LNLSTM_FWD(lnlstm_fwd_f32, float, f32_load, f32_store)

/* Backward: dh = dy + dh_rec (dh_rec = dR(t+1) U, NULL at the last step); dl = dh o (1 - tanh_c^2), the gradient
 * of a_c cn + b_c; dc += LN's backward of dl a_c; dz = (dc i' g, dc f' c_prev, dc i g', dh o' tanh_c), the gradient
 * of z; then dc *= f. dR = LN's backward of dz a_h, in the compute type, for dh(t-1) = dR U and dU; dwx = LN's
 * backward of dz a_x, the gradient of W x(t). LN's backward of dy' at x' = LN(x): rstd (dy' - mean(dy') -
 * x' mean(dy' x')). The gains' and shifts' gradients are summed over the rows into g_ax, g_ah, g_b (4H), g_ac,
 * g_bc (H), which the caller zeroes once per window. work: 5H floats of scratch. */
#define LNLSTM_BWD(NAME, T, LOAD, STORE)                                                                   \
void NAME(int B, int H, const float *dy, const T *dh_rec, float *dc, const float *a_x, const float *a_h,  \
          const float *a_c, const float *acts, const float *c_prev, const float *xn, const float *rn,     \
          const float *rstd, const float *cn, const float *tanh_c, float *dwx, T *dr, float *work,        \
          float *g_ax, float *g_ah, float *g_b, float *g_ac, float *g_bc) {                               \
    const int G = 4 * H;                                                                                   \
    float *d = work, *dn = work + G;                                                                       \
    for (int b = 0; b < B; b++) {                                                                          \
        const float *a = acts + (size_t)b * G, *p = xn + (size_t)b * G, *q = rn + (size_t)b * G;          \
        size_t k = (size_t)b * H;                                                                          \
        float *dw = dwx + (size_t)b * G; T *dq = dr + (size_t)b * G;                                       \
        const T *rec = dh_rec ? dh_rec + k : NULL;                                                         \
        float s1 = 0.f, s2 = 0.f;                                                                          \
        _Pragma("omp simd reduction(+:s1,s2)")                                                             \
        for (int j = 0; j < H; j++) {                                                                      \
            float dh = dy[k + j] + (rec ? LOAD(rec[j]) : 0.f);                                             \
            float o = a[3 * H + j], tc = tanh_c[k + j], nc = cn[k + j];                                    \
            d[3 * H + j] = dh * o * (1.f - o) * tc;                                                        \
            float dl = dh * o * (1.f - tc * tc), e = dl * a_c[j];                                          \
            g_ac[j] += dl * nc; g_bc[j] += dl;                                                             \
            dn[j] = e; s1 += e; s2 += e * nc;                                                              \
        }                                                                                                  \
        const float m1 = s1 / H, m2 = s2 / H, rc = rstd[3 * b + 1];                                        \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < H; j++) {                                                                      \
            float i = a[j], f = a[H + j], g = a[2 * H + j];                                                \
            float dcv = dc[k + j] + rc * (dn[j] - m1 - cn[k + j] * m2);                                    \
            d[j] = dcv * i * (1.f - i) * g; d[H + j] = dcv * f * (1.f - f) * c_prev[k + j];                \
            d[2 * H + j] = dcv * i * (1.f - g * g);                                                        \
            dc[k + j] = dcv * f;                                                                           \
        }                                                                                                  \
        float t1 = 0.f, t2 = 0.f, u1 = 0.f, u2 = 0.f;                                                      \
        _Pragma("omp simd reduction(+:t1,t2,u1,u2)")                                                       \
        for (int j = 0; j < G; j++) {                                                                      \
            float dj = d[j], er = dj * a_h[j], ex = dj * a_x[j];                                           \
            g_b[j] += dj; g_ah[j] += dj * q[j]; g_ax[j] += dj * p[j];                                      \
            t1 += er; t2 += er * q[j]; u1 += ex; u2 += ex * p[j];                                          \
        }                                                                                                  \
        const float n1 = t1 / G, n2 = t2 / G, x1 = u1 / G, x2 = u2 / G;                                    \
        const float rs = rstd[3 * b], rx = rstd[3 * b + 2];                                                \
        _Pragma("omp simd")                                                                                \
        for (int j = 0; j < G; j++) {                                                                      \
            dq[j] = STORE(rs * (d[j] * a_h[j] - n1 - q[j] * n2));                                          \
            dw[j] = rx * (d[j] * a_x[j] - x1 - p[j] * x2);                                                 \
        }                                                                                                  \
    }                                                                                                      \
}
LNLSTM_BWD(lnlstm_bwd_bf16, bf16, bf16_load, bf16_store)
LNLSTM_BWD(lnlstm_bwd_f32, float, f32_load, f32_store)
