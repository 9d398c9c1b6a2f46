/* TAM and TSM kernels. TAM on contiguous clips (B, T, C, HW): one pass forward, one pass backward (weight gradient
 * included). Built and loaded by benchmark/models/cpu_kernels.py; compiled with -ffp-contract=off
 * so that every product and sum is rounded as in the eager kernels (bit-identical outputs and input
 * gradients). Work is split over channels between threads: each channel's weight gradient is then
 * one thread's private sum, with no reduction across threads; each thread walks the memory in order
 * (frame by frame, its channels' rows), which streams where a channel-major walk did not. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

typedef struct {
    const void *x, *w, *g, *out;
    void *res, *gw;
    int64_t B, T, C, HW, c0, c1;
    int need_gx;
} job_t;

#define ROW(p, b, t, c) ((p) + (((b) * J->T + (t)) * J->C + (c)) * J->HW)

#define DEFINE(TYPE, SUFFIX)                                                                         \
static void *forward_##SUFFIX(void *arg) {                                                           \
    const job_t *J = (const job_t *)arg;                                                             \
    const TYPE *x = (const TYPE *)J->x, *w = (const TYPE *)J->w;                                     \
    TYPE *out = (TYPE *)J->res;                                                                      \
    for (int64_t b = 0; b < J->B; ++b)                                                               \
        for (int64_t t = 0; t < J->T; ++t)                                                           \
            for (int64_t c = J->c0; c < J->c1; ++c) {                                                \
                const TYPE w0 = w[3 * c], w1 = w[3 * c + 1], w2 = w[3 * c + 2];                      \
                const TYPE *restrict now = ROW(x, b, t, c);                                          \
                const TYPE *restrict prev = t > 0 ? ROW(x, b, t - 1, c) : now;                       \
                const TYPE *restrict next = t + 1 < J->T ? ROW(x, b, t + 1, c) : now;                \
                TYPE *restrict o = ROW(out, b, t, c);                                                \
                const int has_prev = t > 0, has_next = t + 1 < J->T;                                 \
                if (has_prev && has_next) {                                                          \
                    for (int64_t i = 0; i < J->HW; ++i) {                                            \
                        TYPE v = (now[i] * w1 + prev[i] * w0) + next[i] * w2;                        \
                        o[i] = v < 0 ? (TYPE)0 : v;                                                  \
                    }                                                                                \
                } else if (has_next) {                                                               \
                    for (int64_t i = 0; i < J->HW; ++i) {                                            \
                        TYPE v = now[i] * w1 + next[i] * w2;                                         \
                        o[i] = v < 0 ? (TYPE)0 : v;                                                  \
                    }                                                                                \
                } else if (has_prev) {                                                               \
                    for (int64_t i = 0; i < J->HW; ++i) {                                            \
                        TYPE v = now[i] * w1 + prev[i] * w0;                                         \
                        o[i] = v < 0 ? (TYPE)0 : v;                                                  \
                    }                                                                                \
                } else {                                                                             \
                    for (int64_t i = 0; i < J->HW; ++i) {                                            \
                        TYPE v = now[i] * w1;                                                        \
                        o[i] = v < 0 ? (TYPE)0 : v;                                                  \
                    }                                                                                \
                }                                                                                    \
            }                                                                                        \
    return NULL;                                                                                     \
}                                                                                                    \
                                                                                                     \
/* m_t = g_t where out_t > 0 (autograd's ReLU mask); x_s fed output s through w0, s+1 through w-1  \
 * and s-1 through w+1: gx_s = (m_s w0 + m_{s-1} w+1) + m_{s+1} w-1, the eager kernel's order.     \
 * The weight gradient sums m_t x_{t-1}, m_t x_t, m_t x_{t+1} per channel. */                        \
static void *backward_##SUFFIX(void *arg) {                                                          \
    const job_t *J = (const job_t *)arg;                                                             \
    const TYPE *x = (const TYPE *)J->x, *w = (const TYPE *)J->w;                                     \
    const TYPE *g = (const TYPE *)J->g, *out = (const TYPE *)J->out;                                 \
    TYPE *gx = (TYPE *)J->res, *gw = (TYPE *)J->gw;                                                  \
    double *sums = calloc((size_t)(3 * (J->c1 - J->c0)), sizeof(double));                          \
    if (!sums) return (void *)1;                                                                     \
    for (int64_t b = 0; b < J->B; ++b)                                                               \
        for (int64_t t = 0; t < J->T; ++t)                                                           \
            for (int64_t c = J->c0; c < J->c1; ++c) {                                                \
                const TYPE w0 = w[3 * c], w1 = w[3 * c + 1], w2 = w[3 * c + 2];                      \
                double *sum = sums + 3 * (c - J->c0);                                                \
                const int has_prev = t > 0, has_next = t + 1 < J->T;                                 \
                const TYPE *restrict gn = ROW(g, b, t, c), *restrict on = ROW(out, b, t, c);         \
                const TYPE *restrict gp = has_prev ? ROW(g, b, t - 1, c) : gn;                       \
                const TYPE *restrict op = has_prev ? ROW(out, b, t - 1, c) : on;                     \
                const TYPE *restrict gq = has_next ? ROW(g, b, t + 1, c) : gn;                       \
                const TYPE *restrict oq = has_next ? ROW(out, b, t + 1, c) : on;                     \
                const TYPE *restrict xn = ROW(x, b, t, c);                                           \
                const TYPE *restrict xp = has_prev ? ROW(x, b, t - 1, c) : xn;                       \
                const TYPE *restrict xq = has_next ? ROW(x, b, t + 1, c) : xn;                       \
                TYPE s0 = 0, s1 = 0, s2 = 0;                                                         \
                if (J->need_gx) {                                                                    \
                    TYPE *restrict r = ROW(gx, b, t, c);                                             \
                    for (int64_t i = 0; i < J->HW; ++i) {                                            \
                        TYPE m = on[i] <= 0 ? (TYPE)0 : gn[i];                                       \
                        TYPE mp = op[i] <= 0 ? (TYPE)0 : gp[i];                                      \
                        TYPE mq = oq[i] <= 0 ? (TYPE)0 : gq[i];                                      \
                        TYPE v = m * w1;                                                             \
                        if (has_prev) v = v + mp * w2;                                               \
                        if (has_next) v = v + mq * w0;                                               \
                        r[i] = v;                                                                    \
                    }                                                                                \
                }                                                                                    \
                _Pragma("omp simd reduction(+:s0,s1,s2)")                                            \
                for (int64_t i = 0; i < J->HW; ++i) {                                                \
                    TYPE m = on[i] <= 0 ? (TYPE)0 : gn[i];                                           \
                    s0 += m * xp[i];                                                                 \
                    s1 += m * xn[i];                                                                 \
                    s2 += m * xq[i];                                                                 \
                }                                                                                    \
                if (has_prev) sum[0] += s0; /* else xp is x_t: not a term */                         \
                sum[1] += s1;                                                                        \
                if (has_next) sum[2] += s2;                                                          \
            }                                                                                        \
    for (int64_t k = 0; k < 3 * (J->c1 - J->c0); ++k) gw[3 * J->c0 + k] = (TYPE)sums[k];             \
    free(sums);                                                                                      \
    return NULL;                                                                                     \
}

DEFINE(float, f32)
DEFINE(double, f64)

/* Run fn over channel ranges on `threads` OpenMP threads. The library links libgomp by soname, so
 * in a process that has loaded PyTorch it shares PyTorch's OpenMP runtime and thread pool (a second
 * pool would contend with PyTorch's spinning workers). Built without OpenMP, it runs on one thread.
 * Returns 0, or -1 if a share failed (out of memory). */
static int run(void *(*fn)(void *), job_t base, int threads) {
    int failed = 0;
    if (threads < 1) threads = 1;
    if (threads > base.C) threads = (int)base.C;
#ifdef _OPENMP
#pragma omp parallel num_threads(threads) reduction(|| : failed)
    {
        const int k = omp_get_thread_num(), n = omp_get_num_threads();
#else
    {
        const int k = 0, n = 1;
#endif
        job_t job = base;
        job.c0 = base.C * k / n;
        job.c1 = base.C * (k + 1) / n;
        failed = fn(&job) != NULL;
    }
    return failed ? -1 : 0;
}

int tam_forward(int f64, const void *x, const void *w, void *out, int64_t B, int64_t T, int64_t C,
                int64_t HW, int threads) {
    job_t job = {x, w, NULL, NULL, out, NULL, B, T, C, HW, 0, C, 0};
    return run(f64 ? forward_f64 : forward_f32, job, threads);
}

int tam_backward(int f64, const void *x, const void *w, const void *g, const void *out, void *gx,
                 void *gw, int64_t B, int64_t T, int64_t C, int64_t HW, int need_gx, int threads) {
    job_t job = {x, w, g, out, gx, gw, B, T, C, HW, 0, C, need_gx};
    return run(f64 ? backward_f64 : backward_f32, job, threads);
}

/* TSM's shift on contiguous clips (B, T, C, HW) of `size`-byte elements, as row copies: channels
 * [0, fold) of frame t from frame t+1 and [fold, 2 fold) from t-1 (`back`: the other way round, the
 * shift's transpose), zeros where the source frame is beyond the clip, the other channels as they
 * are. Copies only, so exact for every dtype. Split over frames between threads. */
int tsm_shift(const void *x, void *out, int64_t B, int64_t T, int64_t C, int64_t HW, int64_t fold, int back,
              int64_t size, int threads) {
    const int64_t row = HW * size, frame = C * row;
    const int64_t up_lo = back ? fold : 0, down_lo = back ? 0 : fold;  /* channels from t+1 / t-1 */
    if (threads < 1) threads = 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t bt = 0; bt < B * T; ++bt) {
        const int64_t t = bt % T;
        const char *src = (const char *)x + bt * frame;
        char *dst = (char *)out + bt * frame;
        for (int64_t c = 0; c < C; ++c) {
            int64_t from = 0; /* frame offset of the source */
            if (c >= up_lo && c < up_lo + fold) from = 1;
            else if (c >= down_lo && c < down_lo + fold) from = -1;
            if (t + from < 0 || t + from >= T) memset(dst + c * row, 0, (size_t)row);
            else memcpy(dst + c * row, src + from * frame + c * row, (size_t)row);
        }
    }
    return 0;
}

/* tsm_shift written into g itself (`back`: its transpose): only the 2 fold shifted channels move,
 * row by row in the order that reads each row before it is overwritten. Split over clips. */
int tsm_shift_in_place(void *g, int64_t B, int64_t T, int64_t C, int64_t HW, int64_t fold, int back, int64_t size,
                       int threads) {
    const int64_t row = HW * size, frame = C * row, span = fold * row;
    const int64_t up = back ? span : 0, down = back ? 0 : span; /* byte offsets of the channels from t+1 / t-1 */
    if (threads < 1) threads = 1;
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static)
#endif
    for (int64_t b = 0; b < B; ++b) {
        char *clip = (char *)g + b * T * frame;
        /* the channels that take frame t+1's: ascending t reads t+1 before it is written */
        for (int64_t t = 0; t + 1 < T; ++t) memcpy(clip + t * frame + up, clip + (t + 1) * frame + up, (size_t)span);
        memset(clip + (T - 1) * frame + up, 0, (size_t)span);
        /* the channels that take frame t-1's: descending t */
        for (int64_t t = T - 1; t > 0; --t) memcpy(clip + t * frame + down, clip + (t - 1) * frame + down, (size_t)span);
        memset(clip + down, 0, (size_t)span);
    }
    return 0;
}

/* tsm_shift_in_place forward (restore = 0) keeping the rows it drops in `kept` (per clip: frame 0 of
 * channels [0, fold), then the last frame of [fold, 2 fold)), or (restore = 1) its transpose and the
 * kept rows put back: the clips' own values again. */
int tsm_shift_keeping(void *g, void *kept, int64_t B, int64_t T, int64_t C, int64_t HW, int64_t fold, int restore,
                      int64_t size, int threads) {
    const int64_t frame = C * HW * size, span = fold * HW * size;
    if (restore) tsm_shift_in_place(g, B, T, C, HW, fold, 1, size, threads);
    for (int64_t b = 0; b < B; ++b) {
        char *clip = (char *)g + b * T * frame, *keep = (char *)kept + b * 2 * span;
        char *first = clip, *last = clip + (T - 1) * frame + span;
        if (restore) { memcpy(first, keep, (size_t)span); memcpy(last, keep + span, (size_t)span); }
        else { memcpy(keep, first, (size_t)span); memcpy(keep + span, last, (size_t)span); }
    }
    if (!restore) tsm_shift_in_place(g, B, T, C, HW, fold, 0, size, threads);
    return 0;
}

/* The residual add of a block whose input x is held TSM-shifted (tsm_shift_keeping, restore = 0)
 * from its first convolution's forward to its backward: out += x with x read where the shift left
 * it (channels [0, fold) of frame t at frame t-1, frame 0's in kept; [fold, 2 fold) at t+1, the
 * last frame's in kept), x itself untouched. The same additions as out += x. Split over frames. */
#define DEFINE_RESIDUAL(TYPE, SUFFIX)                                                                \
static void add_unshifted_##SUFFIX(TYPE *out, const TYPE *xs, const TYPE *kept, int64_t B, int64_t T,  \
                                   int64_t C, int64_t HW, int64_t fold, int threads) {               \
    const int64_t frame = C * HW, span = fold * HW;                                                  \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                \
    for (int64_t bt = 0; bt < B * T; ++bt) {                                                         \
        const int64_t b = bt / T, t = bt % T;                                                        \
        TYPE *restrict o = out + bt * frame;                                                         \
        const TYPE *restrict up = t > 0 ? xs + (bt - 1) * frame : kept + b * 2 * span;               \
        const TYPE *restrict down = t + 1 < T ? xs + (bt + 1) * frame + span : kept + (b * 2 + 1) * span; \
        const TYPE *restrict rest = xs + bt * frame + 2 * span;                                      \
        for (int64_t i = 0; i < span; ++i) o[i] = o[i] + up[i];                                      \
        for (int64_t i = 0; i < span; ++i) o[span + i] = o[span + i] + down[i];                      \
        for (int64_t i = 0; i < frame - 2 * span; ++i) o[2 * span + i] = o[2 * span + i] + rest[i];  \
    }                                                                                                \
}                                                                                                    \
                                                                                                     \
/* The gradient of that block's input, in place on its first convolution's fresh input gradient  \
 * gx: shift^T(gx) + gi, gi the gradient through the identity (what autograd would sum them to):   \
 * channels [0, fold) of frame t from frame t-1 (zero at 0), [fold, 2 fold) from t+1 (zero at the  \
 * last), each row written after the row it is read from. The shifted channels of a clip are one  \
 * job each (a chain over frames), the other channels one job per frame. */                        \
static void shift_back_add_##SUFFIX(TYPE *gx, const TYPE *gi, int64_t B, int64_t T, int64_t C,       \
                                    int64_t HW, int64_t fold, int threads) {                         \
    const int64_t frame = C * HW, span = fold * HW;                                                  \
    _Pragma("omp parallel num_threads(threads)")                                                     \
    {                                                                                                \
        _Pragma("omp for schedule(static) nowait")                                                   \
        for (int64_t job = 0; job < 2 * B; ++job) {                                                  \
            const int64_t b = job / 2, late = job % 2; /* late: [fold, 2 fold), from t+1 */          \
            TYPE *clip = gx + b * T * frame + late * span;                                           \
            const TYPE *iclip = gi + b * T * frame + late * span;                                    \
            for (int64_t k = 0; k < T; ++k) {                                                        \
                const int64_t t = late ? k : T - 1 - k, from = late ? t + 1 : t - 1;                 \
                TYPE *restrict r = clip + t * frame;                                                 \
                const TYPE *restrict g = iclip + t * frame;                                          \
                if (from >= 0 && from < T) {                                                         \
                    const TYPE *restrict src = clip + from * frame;                                  \
                    for (int64_t i = 0; i < span; ++i) r[i] = src[i] + g[i];                         \
                } else {                                                                             \
                    for (int64_t i = 0; i < span; ++i) r[i] = (TYPE)0 + g[i];                        \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
        _Pragma("omp for schedule(static)")                                                          \
        for (int64_t bt = 0; bt < B * T; ++bt) {                                                     \
            TYPE *restrict r = gx + bt * frame + 2 * span;                                           \
            const TYPE *restrict g = gi + bt * frame + 2 * span;                                     \
            for (int64_t i = 0; i < frame - 2 * span; ++i) r[i] = r[i] + g[i];                       \
        }                                                                                            \
    }                                                                                                \
}

DEFINE_RESIDUAL(float, f32)
DEFINE_RESIDUAL(double, f64)

int tsm_add_unshifted(int f64, void *out, const void *xs, const void *kept, int64_t B, int64_t T, int64_t C,
                      int64_t HW, int64_t fold, int threads) {
    if (threads < 1) threads = 1;
    if (f64) add_unshifted_f64(out, xs, kept, B, T, C, HW, fold, threads);
    else add_unshifted_f32(out, xs, kept, B, T, C, HW, fold, threads);
    return 0;
}

int tsm_shift_back_add(int f64, void *gx, const void *gi, int64_t B, int64_t T, int64_t C, int64_t HW, int64_t fold,
                       int threads) {
    if (threads < 1) threads = 1;
    if (f64) shift_back_add_f64(gx, gi, B, T, C, HW, fold, threads);
    else shift_back_add_f32(gx, gi, B, T, C, HW, fold, threads);
    return 0;
}
