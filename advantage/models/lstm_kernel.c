/* The masked LSTM's time loop, forward and backward, for float32 on one CPU thread.
 *
 * advantage/models/compiled_lstm.py builds this file with the machine's C compiler and calls it
 * through ctypes; the torch side computes the weight gradients after the loop (one large matrix
 * product). Per step t, for every column b, with keep = 1 - episode_start[t, b] and torch's gate
 * order i, f, g, o:
 *
 *     h' = keep · h,  c' = keep · c,   a = b_ih + b_hh + [x_t, h'] [W_ih, W_hh]ᵀ
 *     i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o)
 *     c = f · c' + i · g,   h = o · tanh(c)
 *
 * and backward, with dh, dc flowing in from step t + 1 and dy[t] the output's gradient:
 *
 *     dh += dy[t],   dc += dh · o · (1 - tanh²c)
 *     da_i = dc · g · i(1 - i),   da_f = dc · c' · f(1 - f),   da_g = dc · i · (1 - g²),
 *     da_o = dh · tanh c · o(1 - o)
 *     dh ← keep · (da W_hh),   dc ← keep · (dc · f)
 *
 * Arrays are dense and row-major: gates (T, B, 4C), states (T, B, C). */

#include <math.h>
#include <string.h>

/* Built with -ffast-math (no infinities): the arguments are clamped where σ and tanh are 0 or ±1
 * to float32's precision, so expf never overflows. */
static inline float clamp(float x, float bound) { return fminf(fmaxf(x, -bound), bound); }
static inline float sigmoid(float x) { return 1.0f / (1.0f + expf(-clamp(x, 80.0f))); }
static inline float tanh_fast(float x) { return 2.0f / (1.0f + expf(-2.0f * clamp(x, 40.0f))) - 1.0f; }

#define COLS 32 /* output columns per register block: two AVX-512 or four AVX2 vectors per row */

/* out[r, j] += Σ_k in[r, k] · w[k, j] for NB rows from `row` (NB constant after inlining, so the
 * NB × COLS accumulators stay in registers), every full block of COLS columns, then the rest. */
static inline __attribute__((always_inline)) void row_block(
    const int NB, int row, int K, int N, const float *in, int ldin, const float *w, int ldw, float *out, int ldout) {
    int j = 0;
    for (; j + COLS <= N; j += COLS) {
        float acc[8][COLS];
        for (int r = 0; r < NB; r++)
            for (int jj = 0; jj < COLS; jj++) acc[r][jj] = out[(row + r) * ldout + j + jj];
        for (int k = 0; k < K; k++) {
            const float *wk = w + (long)k * ldw + j;
            for (int r = 0; r < NB; r++) {
                float v = in[(row + r) * ldin + k];
                for (int jj = 0; jj < COLS; jj++) acc[r][jj] += v * wk[jj];
            }
        }
        for (int r = 0; r < NB; r++)
            for (int jj = 0; jj < COLS; jj++) out[(row + r) * ldout + j + jj] = acc[r][jj];
    }
    for (; j < N; j++)
        for (int r = 0; r < NB; r++) {
            float s = out[(row + r) * ldout + j];
            for (int k = 0; k < K; k++) s += in[(row + r) * ldin + k] * w[(long)k * ldw + j];
            out[(row + r) * ldout + j] = s;
        }
}

/* out (B, N) += in (B, K) · w (K, N), rows in blocks of 8, 4, 2, 1. */
static void matmul_add(int B, int K, int N, const float *in, int ldin, const float *w, int ldw, float *out, int ldout) {
    int row = 0;
    for (; row + 8 <= B; row += 8) row_block(8, row, K, N, in, ldin, w, ldw, out, ldout);
    for (; row + 4 <= B; row += 4) row_block(4, row, K, N, in, ldin, w, ldw, out, ldout);
    for (; row + 2 <= B; row += 2) row_block(2, row, K, N, in, ldin, w, ldw, out, ldout);
    for (; row < B; row++) row_block(1, row, K, N, in, ldin, w, ldw, out, ldout);
}

/* Forward over T steps. x (T, B, F) the inputs; keep (T, B); w_ih (4C, F), w_hh (4C, C), b_ih and
 * b_hh (4C) the layer's weights as torch keeps them; h, c (B, C): the entry state in, the final
 * state out. Writes y (T, B, C) the outputs, gates (T, B, 4C) the activated gates, cell (T, B, C)
 * the cell states and xh (T, B, F + C) each step's [x_t, h'] (what the weight gradients multiply);
 * work holds (F + C + 1) · 4C floats: [W_ih, W_hh]ᵀ and the summed bias. */
void lstm_forward(int T, int B, int F, int C, const float *x, const float *keep, const float *w_ih,
                  const float *w_hh, const float *b_ih, const float *b_hh, float *h, float *c, float *y,
                  float *gates, float *cell, float *xh, float *work) {
    const int G = 4 * C, K = F + C;
    float *w_t = work, *bias = work + (long)K * G; /* w_t (F + C, 4C): row k holds input k's weights */
    for (int j = 0; j < G; j++) {
        for (int k = 0; k < F; k++) w_t[(long)k * G + j] = w_ih[(long)j * F + k];
        for (int k = 0; k < C; k++) w_t[(long)(F + k) * G + j] = w_hh[(long)j * C + k];
        bias[j] = b_ih[j] + b_hh[j];
    }
    for (int t = 0; t < T; t++) {
        float *row = xh + (long)t * B * K, *a = gates + (long)t * B * G;
        for (int b = 0; b < B; b++) {
            const float k = keep[t * B + b];
            const float *xb = x + ((long)t * B + b) * F;
            float *hb = h + b * C, *cb = c + b * C, *rb = row + b * K;
            for (int f = 0; f < F; f++) rb[f] = xb[f];
            for (int j = 0; j < C; j++) {
                hb[j] *= k;
                cb[j] *= k;
                rb[F + j] = hb[j];
            }
            memcpy(a + b * G, bias, sizeof(float) * G);
        }
        matmul_add(B, K, G, row, K, w_t, G, a, G);
        for (int b = 0; b < B; b++) {
            float *restrict ab = a + b * G, *restrict cb = c + b * C, *restrict hb = h + b * C;
            float *restrict yb = y + ((long)t * B + b) * C, *restrict sb = cell + ((long)t * B + b) * C;
#pragma omp simd
            for (int j = 0; j < C; j++) {
                const float i = sigmoid(ab[j]), f = sigmoid(ab[C + j]);
                const float g = tanh_fast(ab[2 * C + j]), o = sigmoid(ab[3 * C + j]);
                const float cn = f * cb[j] + i * g, hn = o * tanh_fast(cn);
                ab[j] = i;
                ab[C + j] = f;
                ab[2 * C + j] = g;
                ab[3 * C + j] = o;
                cb[j] = cn;
                sb[j] = cn;
                hb[j] = hn;
                yb[j] = hn;
            }
        }
    }
}

/* Backward over T steps. dy (T, B, C); gates, cell from the forward; c0 (B, C) the entry cell
 * state (before masking); keep (T, B); w_hh (4C, C). dh, dc (B, C): the final state's gradients
 * in, the entry state's out. Writes d_gates (T, B, 4C), the pre-activation gradients; scratch
 * (B, C) is work space. */
void lstm_backward(int T, int B, int C, const float *dy, const float *gates, const float *cell, const float *c0,
                   const float *keep, const float *w_hh, float *dh, float *dc, float *d_gates, float *scratch) {
    const int G = 4 * C;
    for (int t = T - 1; t >= 0; t--) {
        const float *a = gates + (long)t * B * G;
        float *d = d_gates + (long)t * B * G;
        for (int b = 0; b < B; b++) {
            const float k = keep[t * B + b];
            const float *restrict ab = a + b * G, *restrict ct = cell + ((long)t * B + b) * C;
            const float *restrict cq = t > 0 ? cell + ((long)(t - 1) * B + b) * C : c0 + b * C;
            const float *restrict dyb = dy + ((long)t * B + b) * C;
            float *restrict db = d + b * G, *restrict dhb = dh + b * C, *restrict dcb = dc + b * C;
#pragma omp simd
            for (int j = 0; j < C; j++) {
                const float i = ab[j], f = ab[C + j], g = ab[2 * C + j], o = ab[3 * C + j];
                const float tc = tanh_fast(ct[j]), dhv = dhb[j] + dyb[j];
                const float dcv = dcb[j] + dhv * o * (1.0f - tc * tc);
                db[j] = dcv * g * i * (1.0f - i);
                db[C + j] = dcv * k * cq[j] * f * (1.0f - f);
                db[2 * C + j] = dcv * i * (1.0f - g * g);
                db[3 * C + j] = dhv * tc * o * (1.0f - o);
                dcb[j] = dcv * f * k;
            }
        }
        memset(scratch, 0, sizeof(float) * B * C);
        matmul_add(B, G, C, d, G, w_hh, C, scratch, C);
        for (int b = 0; b < B; b++) {
            const float k = keep[t * B + b];
            for (int j = 0; j < C; j++) dh[b * C + j] = scratch[b * C + j] * k;
        }
    }
}
