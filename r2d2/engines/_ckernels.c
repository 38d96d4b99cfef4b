/* The fingerprint core's loops in C: the same functions, arguments and results as _loops.py's
 * numba loops (see there and engines/kernels.py for what each computes), built with r2d2 when a
 * C compiler is at hand (setup.py; optional: without one, numba's loops run). Loading this module
 * costs about a millisecond, where numba and LLVM take about a second of CPU and 150 MB, most of
 * it holding the interpreter lock a scan's threads need (real-shaped lake, scan_bench).
 *
 * Every loop runs with the interpreter lock released. Arrays come as buffers (numpy arrays: the
 * caller passes C-contiguous ones, see kernels._frozen); integers as Python or numpy integers.
 * Every index read from data (offsets, dictionary indices, entries) is checked against its
 * buffer: a bad one raises ValueError, never reads outside.
 *
 * Arithmetic is on uint64 modulo 2^64, as numba's and numpy's is. */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

typedef uint64_t u64;
typedef int64_t i64;

static const u64 M1 = 0xBF58476D1CE4E5B9ULL, M2 = 0x94D049BB133111EBULL;

static inline u64 fmix(u64 z) {
    z = (z ^ (z >> 30)) * M1;
    z = (z ^ (z >> 27)) * M2;
    return z ^ (z >> 31);
}

/* The adding loops (most of a scan's hashing time) in two versions, AVX2 and plain x86-64, chosen
 * when the module loads by the CPU it runs on (GCC's function multi-versioning, glibc's ifuncs):
 * vectorised, they add 1.5x as many rows a second (2.3 -> 1.5 ns a row, 65,536-row columns). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__)
#define VECTORISED __attribute__((target_clones("avx2", "default")))
#else
#define VECTORISED
#endif

static inline int is_null(const uint8_t *bitmap, Py_ssize_t bitmap_len, i64 offset, i64 i) {
    if (bitmap_len == 0) return 0;  /* no validity bitmap: no nulls */
    i64 j = offset + i;
    return ((bitmap[j >> 3] >> (j & 7)) & 1) == 0;
}

/* ---- arguments ------------------------------------------------------------------------------ */

#define MAX_BUFFERS 16

typedef struct {
    Py_buffer views[MAX_BUFFERS];
    int count;
} Buffers;

static void release(Buffers *b) {
    for (int i = 0; i < b->count; i++) PyBuffer_Release(&b->views[i]);
    b->count = 0;
}

/* A contiguous buffer of `obj` (writable when asked), its items of `itemsize` bytes. */
static int buffer(Buffers *b, PyObject *obj, int writable, Py_ssize_t itemsize, void **data, Py_ssize_t *items) {
    Py_buffer *view = &b->views[b->count];
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) return -1;
    b->count++;
    if (view->len % itemsize) {
        PyErr_SetString(PyExc_ValueError, "buffer size is not a multiple of its item size");
        return -1;
    }
    *data = view->buf;
    *items = view->len / itemsize;
    return 0;
}

static int u64_arg(PyObject *obj, u64 *out) {
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL) return -1;
    /* a negative int as its two's complement bits, as numpy's uint64 conversion of int64 gives */
    u64 value = PyLong_AsUnsignedLongLongMask(index);
    Py_DECREF(index);
    if (value == (u64)-1 && PyErr_Occurred()) return -1;
    *out = value;
    return 0;
}

static int i64_arg(PyObject *obj, i64 *out) {
    PyObject *index = PyNumber_Index(obj);
    if (index == NULL) return -1;
    long long value = PyLong_AsLongLong(index);
    Py_DECREF(index);
    if (value == -1 && PyErr_Occurred()) return -1;
    *out = (i64)value;
    return 0;
}

static int arity(Py_ssize_t nargs, Py_ssize_t want, const char *name) {
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s takes %zd arguments (%zd given)", name, want, nargs);
        return -1;
    }
    return 0;
}

static PyObject *fail(Buffers *b, const char *message) {
    release(b);
    if (message != NULL && !PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* ---- value hashes --------------------------------------------------------------------------- */

/* _bytes_lanes(offsets, data, words, wka, wkb, length_a, length_b, kind_a, kind_b, out_a, out_b):
 * `words` (numba's strided view of data) is not used here; offsets are int32 or int64, told by
 * their buffer's size against out_a's. */
static PyObject *bytes_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *offsets, *data, *wka, *wkb, *out_a, *out_b;
    Py_ssize_t n_offset_bytes, n_data, n_keys, n_keys_b, n, n_b;
    u64 length_a, length_b, kind_a, kind_b;
    if (arity(nargs, 11, "_bytes_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 1, &offsets, &n_offset_bytes) < 0 || buffer(&b, args[1], 0, 1, &data, &n_data) < 0 ||
        buffer(&b, args[3], 0, 8, &wka, &n_keys) < 0 || buffer(&b, args[4], 0, 8, &wkb, &n_keys_b) < 0 ||
        u64_arg(args[5], &length_a) < 0 || u64_arg(args[6], &length_b) < 0 || u64_arg(args[7], &kind_a) < 0 ||
        u64_arg(args[8], &kind_b) < 0 || buffer(&b, args[9], 1, 8, &out_a, &n) < 0 ||
        buffer(&b, args[10], 1, 8, &out_b, &n_b) < 0)
        return fail(&b, NULL);
    if (n_b != n || n_keys_b != n_keys) return fail(&b, "lanes of different lengths");
    int wide;
    if (n_offset_bytes == 4 * (n + 1)) wide = 0;
    else if (n_offset_bytes == 8 * (n + 1)) wide = 1;
    else return fail(&b, "offsets do not match the values");
    const uint8_t *bytes = data;
    const u64 *ka = wka, *kb = wkb;
    u64 *oa = out_a, *ob = out_b;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        i64 start = wide ? ((const i64 *)offsets)[i] : ((const int32_t *)offsets)[i];
        i64 end = wide ? ((const i64 *)offsets)[i + 1] : ((const int32_t *)offsets)[i + 1];
        if (start < 0 || end < start || end > n_data || (end - start + 7) / 8 > n_keys) {
            bad = 1;
            break;
        }
        u64 sum_a = 0, sum_b = 0;
        Py_ssize_t j = 0;
        for (i64 p = start; p < end; p += 8, j++) {
            i64 rest = end - p;
            u64 w = 0;
            if (p + 8 <= n_data) {
                memcpy(&w, bytes + p, 8);  /* little-endian hosts (as numba's view assumes) */
                if (rest < 8) w &= ~0ULL >> ((8 - rest) * 8);
            } else {
                for (i64 q = 0; q < rest && q < 8; q++) w |= (u64)bytes[p + q] << (q * 8);
            }
            sum_a += fmix(w + ka[j]);
            sum_b += fmix(w + kb[j]);
        }
        u64 size = (u64)(end - start);
        sum_a ^= fmix(size * length_a + kind_a);
        sum_b ^= fmix(size * length_b + kind_b);
        oa[i] = fmix(sum_a);
        ob[i] = fmix(sum_b);
    }
    Py_END_ALLOW_THREADS
    if (bad) return fail(&b, "string offsets outside their buffer, or longer than the keys");
    release(&b);
    Py_RETURN_NONE;
}

/* The validity bitmap argument: empty, or covering `offset + n` bits. */
static int bitmap_arg(Buffers *b, PyObject *obj, i64 offset, Py_ssize_t n, const uint8_t **bits, Py_ssize_t *len) {
    void *data;
    if (buffer(b, obj, 0, 1, &data, len) < 0) return -1;
    *bits = data;
    if (*len && (offset < 0 || (offset + n + 7) / 8 > *len)) {
        PyErr_SetString(PyExc_ValueError, "validity bitmap shorter than its values");
        return -1;
    }
    return 0;
}

/* _int_lanes(x, bitmap, offset, add_a, add_b, null_a, null_b, out_a, out_b) */
static PyObject *int_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *x, *out_a, *out_b;
    const uint8_t *bits;
    Py_ssize_t n, n_bits, n_a, n_b;
    i64 offset;
    u64 add_a, add_b, null_a, null_b;
    if (arity(nargs, 9, "_int_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &x, &n) < 0 || i64_arg(args[2], &offset) < 0 ||
        bitmap_arg(&b, args[1], offset, n, &bits, &n_bits) < 0 || u64_arg(args[3], &add_a) < 0 ||
        u64_arg(args[4], &add_b) < 0 || u64_arg(args[5], &null_a) < 0 || u64_arg(args[6], &null_b) < 0 ||
        buffer(&b, args[7], 1, 8, &out_a, &n_a) < 0 || buffer(&b, args[8], 1, 8, &out_b, &n_b) < 0)
        return fail(&b, NULL);
    if (n_a != n || n_b != n) return fail(&b, "lanes of different lengths");
    const u64 *v = x;
    u64 *oa = out_a, *ob = out_b;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_null(bits, n_bits, offset, i)) {
            oa[i] = null_a;
            ob[i] = null_b;
        } else {
            oa[i] = v[i] + add_a;
            ob[i] = v[i] + add_b;
        }
    }
    Py_END_ALLOW_THREADS
    release(&b);
    Py_RETURN_NONE;
}

/* _take_lanes(ha, hb, indices, bitmap, offset, null_a, null_b, out_a, out_b): indices int32 */
static PyObject *take_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *ha, *hb, *indices, *out_a, *out_b;
    const uint8_t *bits;
    Py_ssize_t n_dict, n_dict_b, n, n_bits, n_a, n_b;
    i64 offset;
    u64 null_a, null_b;
    if (arity(nargs, 9, "_take_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &ha, &n_dict) < 0 || buffer(&b, args[1], 0, 8, &hb, &n_dict_b) < 0 ||
        buffer(&b, args[2], 0, 4, &indices, &n) < 0 || i64_arg(args[4], &offset) < 0 ||
        bitmap_arg(&b, args[3], offset, n, &bits, &n_bits) < 0 || u64_arg(args[5], &null_a) < 0 ||
        u64_arg(args[6], &null_b) < 0 || buffer(&b, args[7], 1, 8, &out_a, &n_a) < 0 ||
        buffer(&b, args[8], 1, 8, &out_b, &n_b) < 0)
        return fail(&b, NULL);
    if (n_dict_b != n_dict || n_a != n || n_b != n) return fail(&b, "lanes of different lengths");
    const u64 *da = ha, *db = hb;
    const int32_t *ix = indices;
    u64 *oa = out_a, *ob = out_b;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_null(bits, n_bits, offset, i)) {
            oa[i] = null_a;
            ob[i] = null_b;
            continue;
        }
        int32_t k = ix[i];
        if (k < 0 || k >= n_dict) {
            bad = 1;
            break;
        }
        oa[i] = da[k];
        ob[i] = db[k];
    }
    Py_END_ALLOW_THREADS
    if (bad) return fail(&b, "dictionary index outside its dictionary");
    release(&b);
    Py_RETURN_NONE;
}

/* _double_lanes(v, bits, bitmap, offset, int_a, int_b, float_a, float_b, nan_a, nan_b, null_a,
 * null_b, out_a, out_b, huge) -> flagged; `bits` (numba's view of v as uint64) is not used. */
static PyObject *double_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *values, *out_a, *out_b, *huge;
    const uint8_t *bits;
    Py_ssize_t n, n_bits, n_a, n_b, n_huge;
    i64 offset;
    u64 c[8];
    if (arity(nargs, 15, "_double_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &values, &n) < 0 || i64_arg(args[3], &offset) < 0 ||
        bitmap_arg(&b, args[2], offset, n, &bits, &n_bits) < 0)
        return fail(&b, NULL);
    for (int k = 0; k < 8; k++)
        if (u64_arg(args[4 + k], &c[k]) < 0) return fail(&b, NULL);
    if (buffer(&b, args[12], 1, 8, &out_a, &n_a) < 0 || buffer(&b, args[13], 1, 8, &out_b, &n_b) < 0 ||
        buffer(&b, args[14], 1, 1, &huge, &n_huge) < 0)
        return fail(&b, NULL);
    if (n_a != n || n_b != n || n_huge != n) return fail(&b, "lanes of different lengths");
    const double *v = values;
    u64 *oa = out_a, *ob = out_b;
    uint8_t *flags = huge;
    Py_ssize_t flagged = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_null(bits, n_bits, offset, i)) {
            oa[i] = c[6];
            ob[i] = c[7];
            continue;
        }
        double x = v[i];
        if (x != x) {
            oa[i] = c[4];
            ob[i] = c[5];
        } else if (isfinite(x) && trunc(x) == x) {
            if (fabs(x) < 9223372036854775808.0) {
                u64 w = (u64)(i64)x;
                oa[i] = w + c[0];
                ob[i] = w + c[1];
            } else {
                flags[i] = 1;
                flagged++;
            }
        } else {  /* not integral: never -0.0, so the bits are those of x + 0.0 */
            u64 w;
            memcpy(&w, &x, 8);
            oa[i] = w + c[2];
            ob[i] = w + c[3];
        }
    }
    Py_END_ALLOW_THREADS
    release(&b);
    return PyLong_FromSsize_t(flagged);
}

/* Python's floor division of int64 (numba's //, for a positive divisor). */
static inline i64 floor_div(i64 a, i64 d) {
    i64 q = a / d;
    if ((a % d != 0) && ((a < 0) != (d < 0))) q--;
    return q;
}

/* _instant_lanes(counts, per_second, ns_per_unit, bitmap, offset, tweak_a, tweak_b, null_a,
 * null_b, out_a, out_b) */
static PyObject *instant_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *counts, *out_a, *out_b;
    const uint8_t *bits;
    Py_ssize_t n, n_bits, n_a, n_b;
    i64 per_second, ns_per_unit, offset;
    u64 tweak_a, tweak_b, null_a, null_b;
    if (arity(nargs, 11, "_instant_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &counts, &n) < 0 || i64_arg(args[1], &per_second) < 0 ||
        i64_arg(args[2], &ns_per_unit) < 0 || i64_arg(args[4], &offset) < 0 ||
        bitmap_arg(&b, args[3], offset, n, &bits, &n_bits) < 0 || u64_arg(args[5], &tweak_a) < 0 ||
        u64_arg(args[6], &tweak_b) < 0 || u64_arg(args[7], &null_a) < 0 || u64_arg(args[8], &null_b) < 0 ||
        buffer(&b, args[9], 1, 8, &out_a, &n_a) < 0 || buffer(&b, args[10], 1, 8, &out_b, &n_b) < 0)
        return fail(&b, NULL);
    if (n_a != n || n_b != n) return fail(&b, "lanes of different lengths");
    if (per_second <= 0) return fail(&b, "a unit has a positive number of counts a second");
    const i64 *cs = counts;
    u64 *oa = out_a, *ob = out_b;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_null(bits, n_bits, offset, i)) {
            oa[i] = null_a;
            ob[i] = null_b;
            continue;
        }
        i64 count = cs[i];
        i64 seconds = floor_div(count, per_second);
        u64 rest = (u64)(count - seconds * per_second) * (u64)ns_per_unit;
        u64 s = (u64)seconds;
        oa[i] = s + fmix(rest + tweak_a);
        ob[i] = s + fmix(rest + tweak_b);
    }
    Py_END_ALLOW_THREADS
    release(&b);
    Py_RETURN_NONE;
}

/* _decimal_lanes(words, scale, bitmap, offset, int_a, int_b, tweak_a, tweak_b, null_a, null_b,
 * out_a, out_b, wide) -> flagged */
static PyObject *decimal_lanes(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *words, *out_a, *out_b, *wide;
    const uint8_t *bits;
    Py_ssize_t n_words, n_bits, n_a, n_b, n_wide;
    i64 scale, offset;
    u64 c[6];
    if (arity(nargs, 13, "_decimal_lanes") < 0) return NULL;
    if (buffer(&b, args[0], 0, 16, &words, &n_words) < 0 || i64_arg(args[1], &scale) < 0 ||
        i64_arg(args[3], &offset) < 0 || bitmap_arg(&b, args[2], offset, n_words, &bits, &n_bits) < 0)
        return fail(&b, NULL);
    for (int k = 0; k < 6; k++)
        if (u64_arg(args[4 + k], &c[k]) < 0) return fail(&b, NULL);
    if (buffer(&b, args[10], 1, 8, &out_a, &n_a) < 0 || buffer(&b, args[11], 1, 8, &out_b, &n_b) < 0 ||
        buffer(&b, args[12], 1, 1, &wide, &n_wide) < 0)
        return fail(&b, NULL);
    Py_ssize_t n = n_words;  /* one value per 16 bytes */
    if (n_a != n || n_b != n || n_wide != n) return fail(&b, "lanes of different lengths");
    const i64 *w = words;
    u64 *oa = out_a, *ob = out_b;
    uint8_t *flags = wide;
    Py_ssize_t flagged = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        if (is_null(bits, n_bits, offset, i)) {
            oa[i] = c[4];
            ob[i] = c[5];
            continue;
        }
        i64 low = w[2 * i], high = w[2 * i + 1];
        if (high != (low < 0 ? -1 : 0)) {  /* the unscaled value does not fit 64 bits */
            flags[i] = 1;
            flagged++;
            continue;
        }
        i64 digits = low, s = scale;
        while (s > 0 && digits % 10 == 0) {  /* exact divisions: C's and Python's agree */
            digits /= 10;
            s--;
        }
        u64 d = (u64)digits;
        if (s == 0) {
            oa[i] = d + c[0];
            ob[i] = d + c[1];
        } else {
            oa[i] = d + fmix((u64)s + c[2]);
            ob[i] = d + fmix((u64)s + c[3]);
        }
    }
    Py_END_ALLOW_THREADS
    release(&b);
    return PyLong_FromSsize_t(flagged);
}

/* ---- row fingerprints ----------------------------------------------------------------------- */

/* The entries: four int64 arrays of E items (output start, rows, position in the set, source
 * start), as `rows` pointers. */
static int entries_arg(Buffers *b, PyObject *const *args, const i64 *rows[4], Py_ssize_t *count) {
    for (int r = 0; r < 4; r++) {
        void *data;
        Py_ssize_t items;
        if (buffer(b, args[r], 0, 8, &data, &items) < 0) return -1;
        if (r && items != *count) {
            PyErr_SetString(PyExc_ValueError, "entries of different lengths");
            return -1;
        }
        rows[r] = data;
        *count = items;
    }
    return 0;
}

/* Whether every entry stays inside the arrays it reads and writes. */
static int entries_fit(const i64 *rows[4], Py_ssize_t e, Py_ssize_t n_out, Py_ssize_t n_src, Py_ssize_t n_keys) {
    for (Py_ssize_t k = 0; k < e; k++) {
        i64 o = rows[0][k], n = rows[1][k], key = rows[2][k], src = rows[3][k];
        if (o < 0 || n < 0 || src < 0 || key < 0 || key >= n_keys || o + n > n_out || src + n > n_src) return 0;
    }
    return 1;
}

/* into[r] += fmix(from[r] + key) for n rows, per lane */
VECTORISED static void add_mixed(const u64 *from_a, const u64 *from_b, u64 *into_a, u64 *into_b, i64 n,
                                 u64 ka, u64 kb) {
    for (i64 r = 0; r < n; r++) {
        into_a[r] += fmix(from_a[r] + ka);
        into_b[r] += fmix(from_b[r] + kb);
    }
}

/* the same from integer values and a validity bitmap (n_bits 0: no NULLs), a NULL adding `null_*` */
VECTORISED static void add_mixed_ints(const u64 *v, const uint8_t *bits, Py_ssize_t n_bits, i64 first,
                                      u64 *into_a, u64 *into_b, i64 n, u64 shift_a, u64 shift_b,
                                      u64 null_a, u64 null_b) {
    if (n_bits == 0) {
        for (i64 r = 0; r < n; r++) {
            into_a[r] += fmix(v[r] + shift_a);
            into_b[r] += fmix(v[r] + shift_b);
        }
        return;
    }
    for (i64 r = 0; r < n; r++) {
        int missing = is_null(bits, n_bits, first, r);
        into_a[r] += missing ? null_a : fmix(v[r] + shift_a);
        into_b[r] += missing ? null_b : fmix(v[r] + shift_b);
    }
}

/* _add_columns(ha, hb, out_start, n_rows, key_index, source, key_a, key_b, out_a, out_b) */
static PyObject *add_columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *ha, *hb, *key_a, *key_b, *out_a, *out_b;
    const i64 *rows[4];
    Py_ssize_t n_src, n_src_b, e = 0, n_keys, n_keys_b, n_out, n_out_b;
    if (arity(nargs, 10, "_add_columns") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &ha, &n_src) < 0 || buffer(&b, args[1], 0, 8, &hb, &n_src_b) < 0 ||
        entries_arg(&b, args + 2, rows, &e) < 0 || buffer(&b, args[6], 0, 8, &key_a, &n_keys) < 0 ||
        buffer(&b, args[7], 0, 8, &key_b, &n_keys_b) < 0 || buffer(&b, args[8], 1, 8, &out_a, &n_out) < 0 ||
        buffer(&b, args[9], 1, 8, &out_b, &n_out_b) < 0)
        return fail(&b, NULL);
    if (n_src_b != n_src || n_keys_b != n_keys || n_out_b != n_out) return fail(&b, "lanes of different lengths");
    if (!entries_fit(rows, e, n_out, n_src, n_keys)) return fail(&b, "an entry outside its arrays");
    const u64 *fa = ha, *fb = hb, *kay = key_a, *kby = key_b;
    u64 *oa = out_a, *ob = out_b;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < e; k++) {
        i64 o = rows[0][k], n = rows[1][k], src = rows[3][k];
        u64 ka = kay[rows[2][k]], kb = kby[rows[2][k]];
        add_mixed(fa + src, fb + src, oa + o, ob + o, n, ka, kb);
    }
    Py_END_ALLOW_THREADS
    release(&b);
    Py_RETURN_NONE;
}

/* _add_int_columns(x, bitmap, offset, add_a, add_b, null_a, null_b, out_start, n_rows, key_index,
 * source, key_a, key_b, out_a, out_b) */
static PyObject *add_int_columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *x, *key_a, *key_b, *out_a, *out_b;
    const uint8_t *bits;
    const i64 *rows[4];
    Py_ssize_t n_src, n_bits, e = 0, n_keys, n_keys_b, n_out, n_out_b;
    i64 offset;
    u64 add_a, add_b, null_a, null_b;
    if (arity(nargs, 15, "_add_int_columns") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &x, &n_src) < 0 || i64_arg(args[2], &offset) < 0 ||
        bitmap_arg(&b, args[1], offset, n_src, &bits, &n_bits) < 0 || u64_arg(args[3], &add_a) < 0 ||
        u64_arg(args[4], &add_b) < 0 || u64_arg(args[5], &null_a) < 0 || u64_arg(args[6], &null_b) < 0 ||
        entries_arg(&b, args + 7, rows, &e) < 0 || buffer(&b, args[11], 0, 8, &key_a, &n_keys) < 0 ||
        buffer(&b, args[12], 0, 8, &key_b, &n_keys_b) < 0 || buffer(&b, args[13], 1, 8, &out_a, &n_out) < 0 ||
        buffer(&b, args[14], 1, 8, &out_b, &n_out_b) < 0)
        return fail(&b, NULL);
    if (n_keys_b != n_keys || n_out_b != n_out) return fail(&b, "lanes of different lengths");
    if (!entries_fit(rows, e, n_out, n_src, n_keys)) return fail(&b, "an entry outside its arrays");
    const u64 *values = x, *kay = key_a, *kby = key_b;
    u64 *oa = out_a, *ob = out_b;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < e; k++) {
        i64 o = rows[0][k], n = rows[1][k], src = rows[3][k];
        u64 ka = kay[rows[2][k]], kb = kby[rows[2][k]];
        add_mixed_ints(values + src, bits, n_bits, offset + src, oa + o, ob + o, n, add_a + ka, add_b + kb,
                       fmix(null_a + ka), fmix(null_b + kb));
    }
    Py_END_ALLOW_THREADS
    release(&b);
    Py_RETURN_NONE;
}

/* ---- grouping ------------------------------------------------------------------------------- */

#define SMALL_BUCKET 32
#define ONE_PASS_BITS 16
#define TOP_BITS 11

static inline int pair_less(u64 a1, u64 b1, u64 a2, u64 b2) { return a1 < a2 || (a1 == a2 && b1 < b2); }

/* (a, b) ordered by (a, b) where they lie, by insertion: a pair already after its predecessor is
 * passed over with one comparison. */
static void insertion_sort(u64 *a, u64 *b, i64 n) {
    for (i64 i = 1; i < n; i++) {
        u64 x = a[i], y = b[i];
        if (!pair_less(x, y, a[i - 1], b[i - 1])) continue;
        i64 j = i - 1;
        while (j >= 0 && pair_less(x, y, a[j], b[j])) {
            a[j + 1] = a[j];
            b[j + 1] = b[j];
            j--;
        }
        a[j + 1] = x;
        b[j + 1] = y;
    }
}

/* A bucket of many pairs (copies of one row, mostly) ordered by (a, b): a merge sort through
 * scratch arrays of n pairs, n log n whatever the values. */
static void merge_sort(u64 *a, u64 *b, i64 n, u64 *ta, u64 *tb) {
    if (n <= SMALL_BUCKET) {
        insertion_sort(a, b, n);
        return;
    }
    i64 half = n / 2;
    merge_sort(a, b, half, ta, tb);
    merge_sort(a + half, b + half, n - half, ta, tb);
    if (!pair_less(a[half], b[half], a[half - 1], b[half - 1])) return;  /* already in order */
    memcpy(ta, a, n * sizeof(u64));
    memcpy(tb, b, n * sizeof(u64));
    i64 i = 0, j = half, k = 0;
    while (i < half && j < n) {
        if (pair_less(ta[j], tb[j], ta[i], tb[i])) {
            a[k] = ta[j];
            b[k++] = tb[j++];
        } else {
            a[k] = ta[i];
            b[k++] = tb[i++];
        }
    }
    while (i < half) {
        a[k] = ta[i];
        b[k++] = tb[i++];
    }
    while (j < n) {
        a[k] = ta[j];
        b[k++] = tb[j++];
    }
}

static int bucket_bits(i64 m) {
    int bits = 0;
    while (bits < 48 && ((i64)1 << bits) < m) bits++;
    return bits;
}

/* Pairs into dst by `bits` bits of a from bit `shift` up; counts[k] is where bucket k starts,
 * counts[k + 1] where it ends. */
static void bucket(const u64 *sa, const u64 *sb, u64 *da, u64 *db, i64 n, i64 *counts, i64 *fill, int shift, int bits) {
    i64 buckets = (i64)1 << bits;
    u64 mask = (u64)(buckets - 1);
    memset(counts, 0, (buckets + 1) * sizeof(i64));
    if (bits) {
        for (i64 i = 0; i < n; i++) counts[((sa[i] >> shift) & mask) + 1]++;
    } else {
        counts[1] = n;
    }
    for (i64 k = 0; k < buckets; k++) counts[k + 1] += counts[k];
    memcpy(fill, counts, buckets * sizeof(i64));
    for (i64 i = 0; i < n; i++) {
        i64 k = bits ? (i64)((sa[i] >> shift) & mask) : 0;
        i64 p = fill[k]++;
        da[p] = sa[i];
        db[p] = sb[i];
    }
}

/* Every bucket in order: a large one by merge_sort, then one insertion pass over all (a pair is
 * out of order only within its bucket). */
static void sort_buckets(u64 *a, u64 *b, const i64 *counts, i64 buckets, u64 *ta, u64 *tb) {
    for (i64 k = 0; k < buckets; k++)
        if (counts[k + 1] - counts[k] > SMALL_BUCKET)
            merge_sort(a + counts[k], b + counts[k], counts[k + 1] - counts[k], ta, tb);
    insertion_sort(a, b, counts[buckets]);
}

/* Room for four arrays of `need` items in *buf (holding `*room` each), grown when short. */
static int reserve(u64 **buf, i64 *room, i64 need) {
    if (need <= *room) return 0;
    u64 *grown = realloc(*buf, (size_t)need * 4 * sizeof(u64));
    if (grown == NULL) return -1;
    *buf = grown;
    *room = need;
    return 0;
}

/* _sort_by_first(a, b, starts, out_a, out_b): each segment ordered (here by a, then b; _runs
 * needs a's order only). The same bucket sort as numba's: see _loops._sort_by_first. */
static PyObject *sort_by_first(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *a, *bb, *starts, *out_a, *out_b;
    Py_ssize_t n, n_b, n_starts, n_oa, n_ob;
    if (arity(nargs, 5, "_sort_by_first") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &a, &n) < 0 || buffer(&b, args[1], 0, 8, &bb, &n_b) < 0 ||
        buffer(&b, args[2], 0, 8, &starts, &n_starts) < 0 || buffer(&b, args[3], 1, 8, &out_a, &n_oa) < 0 ||
        buffer(&b, args[4], 1, 8, &out_b, &n_ob) < 0)
        return fail(&b, NULL);
    if (n_b != n || n_oa != n || n_ob != n) return fail(&b, "lanes of different lengths");
    const i64 *st = starts;
    for (Py_ssize_t s = 0; s + 1 < n_starts; s++)
        if (st[s] < 0 || st[s + 1] < st[s] || st[s + 1] > n) return fail(&b, "segments outside the lanes");
    i64 *counts = malloc((((i64)1 << ONE_PASS_BITS) + 1) * sizeof(i64));
    i64 *fill = malloc((((i64)1 << ONE_PASS_BITS) + 1) * sizeof(i64));
    i64 *top = malloc((((i64)1 << TOP_BITS) + 1) * sizeof(i64));
    if (!counts || !fill || !top) {
        free(counts), free(fill), free(top);
        release(&b);
        return PyErr_NoMemory();
    }
    /* scratch: the two lanes of a bucket being split, and merge_sort's two; grown to the largest
     * such bucket, never to a whole segment of millions of rows */
    u64 *scratch = NULL;
    i64 room = 0;
    int no_memory = 0;
    const u64 *src_a = a, *src_b = bb;
    u64 *dst_a = out_a, *dst_b = out_b;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s + 1 < n_starts && !no_memory; s++) {
        i64 lo = st[s], m = st[s + 1] - st[s];
        int bits = bucket_bits(m);
        if (bits <= ONE_PASS_BITS) {
            if (reserve(&scratch, &room, m) < 0) {
                no_memory = 1;
                break;
            }
            bucket(src_a + lo, src_b + lo, dst_a + lo, dst_b + lo, m, counts, fill, bits ? 64 - bits : 0, bits);
            sort_buckets(dst_a + lo, dst_b + lo, counts, (i64)1 << bits, scratch + 2 * room, scratch + 3 * room);
            continue;
        }
        /* many rows: TOP_BITS first, then the next bits within each bucket (their write positions
         * stay in the cache) */
        bucket(src_a + lo, src_b + lo, dst_a + lo, dst_b + lo, m, counts, fill, 64 - TOP_BITS, TOP_BITS);
        memcpy(top, counts, (((i64)1 << TOP_BITS) + 1) * sizeof(i64));
        for (i64 k = 0; k < ((i64)1 << TOP_BITS); k++) {
            u64 *ba = dst_a + lo + top[k], *bbk = dst_b + lo + top[k];
            i64 size = top[k + 1] - top[k];
            int more = bucket_bits(size);
            if (more > ONE_PASS_BITS) more = ONE_PASS_BITS;
            if (more == 0) continue;  /* one pair or none: in order */
            if (reserve(&scratch, &room, size) < 0) {
                no_memory = 1;
                break;
            }
            u64 *part_a = scratch, *part_b = scratch + room;
            bucket(ba, bbk, part_a, part_b, size, counts, fill, 64 - TOP_BITS - more, more);
            sort_buckets(part_a, part_b, counts, (i64)1 << more, scratch + 2 * room, scratch + 3 * room);
            memcpy(ba, part_a, size * sizeof(u64));
            memcpy(bbk, part_b, size * sizeof(u64));
        }
    }
    Py_END_ALLOW_THREADS
    free(counts), free(fill), free(top), free(scratch);
    release(&b);
    if (no_memory) return PyErr_NoMemory();
    Py_RETURN_NONE;
}

static int cmp_u64(const void *x, const void *y) {
    u64 a = *(const u64 *)x, b = *(const u64 *)y;
    return (a > b) - (a < b);
}

/* _runs(sa, sb, starts, out_a, out_b, out_count, out_starts) -> m: each segment's distinct pairs
 * in (a, b) order with their counts, the segments already ordered by a. */
static PyObject *runs(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *sa_, *sb_, *starts, *out_a, *out_b, *out_count, *out_starts;
    Py_ssize_t n, n_b, n_starts, n_oa, n_ob, n_oc, n_os;
    if (arity(nargs, 7, "_runs") < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &sa_, &n) < 0 || buffer(&b, args[1], 0, 8, &sb_, &n_b) < 0 ||
        buffer(&b, args[2], 0, 8, &starts, &n_starts) < 0 || buffer(&b, args[3], 1, 8, &out_a, &n_oa) < 0 ||
        buffer(&b, args[4], 1, 8, &out_b, &n_ob) < 0 || buffer(&b, args[5], 1, 8, &out_count, &n_oc) < 0 ||
        buffer(&b, args[6], 1, 8, &out_starts, &n_os) < 0)
        return fail(&b, NULL);
    if (n_b != n || n_oa < n || n_ob < n || n_oc < n || n_os != n_starts) return fail(&b, "lanes of different lengths");
    const i64 *st = starts;
    for (Py_ssize_t s = 0; s + 1 < n_starts; s++)
        if (st[s] < 0 || st[s + 1] < st[s] || st[s + 1] > n) return fail(&b, "segments outside the lanes");
    const u64 *sa = sa_, *sb = sb_;
    u64 *oa = out_a, *ob = out_b;
    i64 *oc = out_count, *os = out_starts;
    u64 *run = NULL;
    Py_ssize_t run_size = 0;
    i64 m = 0;
    int no_memory = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t s = 0; s + 1 < n_starts && !no_memory; s++) {
        i64 lo = st[s], hi = st[s + 1];
        os[s] = m;
        i64 i = lo;
        while (i < hi) {
            i64 j = i + 1;
            while (j < hi && sa[j] == sa[i]) j++;
            int same = 1;
            for (i64 q = i + 1; q < j; q++)
                if (sb[q] != sb[i]) {
                    same = 0;
                    break;
                }
            if (same) {  /* one row (the same row again, mostly) */
                oa[m] = sa[i];
                ob[m] = sb[i];
                oc[m++] = j - i;
            } else {  /* equal first lanes, different second ones: order by the second */
                if (j - i > run_size) {
                    u64 *bigger = realloc(run, (j - i) * sizeof(u64));
                    if (bigger == NULL) {
                        no_memory = 1;
                        break;
                    }
                    run = bigger;
                    run_size = j - i;
                }
                memcpy(run, sb + i, (j - i) * sizeof(u64));
                qsort(run, j - i, sizeof(u64), cmp_u64);
                i64 k = 0;
                while (k < j - i) {
                    i64 q = k + 1;
                    while (q < j - i && run[q] == run[k]) q++;
                    oa[m] = sa[i];
                    ob[m] = run[k];
                    oc[m++] = q - k;
                    k = q;
                }
            }
            i = j;
        }
    }
    if (n_starts) os[n_starts - 1] = m;
    Py_END_ALLOW_THREADS
    free(run);
    release(&b);
    if (no_memory) return PyErr_NoMemory();
    return PyLong_FromLongLong(m);
}

/* _missing(ca, cb, cc, pa, pb, pc, bag) -> (missing, total) */
static PyObject *missing(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    Buffers b = {.count = 0};
    void *ca_, *cb_, *cc_, *pa_, *pb_, *pc_;
    Py_ssize_t nc, nc_b, nc_c, np_, np_b, np_c;
    if (arity(nargs, 7, "_missing") < 0) return NULL;
    int bag = PyObject_IsTrue(args[6]);
    if (bag < 0) return NULL;
    if (buffer(&b, args[0], 0, 8, &ca_, &nc) < 0 || buffer(&b, args[1], 0, 8, &cb_, &nc_b) < 0 ||
        buffer(&b, args[2], 0, 8, &cc_, &nc_c) < 0 || buffer(&b, args[3], 0, 8, &pa_, &np_) < 0 ||
        buffer(&b, args[4], 0, 8, &pb_, &np_b) < 0 || buffer(&b, args[5], 0, 8, &pc_, &np_c) < 0)
        return fail(&b, NULL);
    if (nc_b != nc || nc_c != nc || np_b != np_ || np_c != np_) return fail(&b, "lanes of different lengths");
    const u64 *ca = ca_, *cb = cb_, *pa = pa_, *pb = pb_;
    const i64 *cc = cc_, *pc = pc_;
    i64 miss = 0, total = 0;
    Py_BEGIN_ALLOW_THREADS
    int search = nc * 16 < np_;  /* a child much smaller than its parent searches it */
    Py_ssize_t j = 0;
    for (Py_ssize_t i = 0; i < nc; i++) {
        u64 x = ca[i], y = cb[i];
        if (search) {
            Py_ssize_t lo = j, hi = np_;
            while (lo < hi) {
                Py_ssize_t mid = (lo + hi) >> 1;
                if (pair_less(pa[mid], pb[mid], x, y)) lo = mid + 1;
                else hi = mid;
            }
            j = lo;
        } else {
            while (j < np_ && pair_less(pa[j], pb[j], x, y)) j++;
        }
        i64 found = (j < np_ && pa[j] == x && pb[j] == y) ? pc[j] : 0;
        if (bag) {
            total += cc[i];
            if (cc[i] > found) miss += cc[i] - found;
        } else {
            total += 1;
            if (found == 0) miss += 1;
        }
    }
    Py_END_ALLOW_THREADS
    release(&b);
    return Py_BuildValue("(LL)", (long long)miss, (long long)total);
}

static PyMethodDef methods[] = {
    {"_bytes_lanes", (PyCFunction)(void (*)(void))bytes_lanes, METH_FASTCALL, NULL},
    {"_int_lanes", (PyCFunction)(void (*)(void))int_lanes, METH_FASTCALL, NULL},
    {"_take_lanes", (PyCFunction)(void (*)(void))take_lanes, METH_FASTCALL, NULL},
    {"_double_lanes", (PyCFunction)(void (*)(void))double_lanes, METH_FASTCALL, NULL},
    {"_instant_lanes", (PyCFunction)(void (*)(void))instant_lanes, METH_FASTCALL, NULL},
    {"_decimal_lanes", (PyCFunction)(void (*)(void))decimal_lanes, METH_FASTCALL, NULL},
    {"_add_columns", (PyCFunction)(void (*)(void))add_columns, METH_FASTCALL, NULL},
    {"_add_int_columns", (PyCFunction)(void (*)(void))add_int_columns, METH_FASTCALL, NULL},
    {"_sort_by_first", (PyCFunction)(void (*)(void))sort_by_first, METH_FASTCALL, NULL},
    {"_runs", (PyCFunction)(void (*)(void))runs, METH_FASTCALL, NULL},
    {"_missing", (PyCFunction)(void (*)(void))missing, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_ckernels",
    .m_doc = "The fingerprint core's loops in C (see _ckernels.c and engines/kernels.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__ckernels(void) { return PyModule_Create(&module); }
