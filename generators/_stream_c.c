/* Compiled fast path of depthbench.generators._seeding (stream_c): optional. The pure-Python
   reference is StreamRun's numpy loop (one reseeded numpy PCG64 per item), used when this
   extension is missing or DEPTHBENCH_PURE_PYTHON=1 is set.

   uniforms(digests, k, out)
       For each 32-byte sha256 digest in `digests` (a bytes-like object of 32 * count bytes),
       the first k doubles of the PCG64 stream that digest starts (state = digest bytes 0..15,
       increment = bytes 16..31 with its lowest bit set, both big-endian, as _seeding._state
       sets a numpy PCG64), written as row j of `out`, a writable C-contiguous float64 buffer
       of count * k doubles. Bit for bit what numpy's Generator.random gives on that stream:
       each draw advances the 128-bit LCG first (state = state * MULT + inc), then outputs
       XSL-RR (the xor of the state's halves rotated right by its top 6 bits), and a double
       is the output's top 53 bits times 2**-53.
   cue_draws(digest, half)
       The draws of a cue block (tasks/_dataset.py _cue_block) from the stream one digest
       starts: numpy's Generator.shuffle of arange(half) (Fisher-Yates from the last place
       down, each swap partner a masked, rejection-sampled 32-bit draw) then
       Generator.random(half), as (list of int, list of float).

   Needs a compiler with unsigned __int128 (GCC, Clang); elsewhere the build of this optional
   module fails and the numpy loop is used. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#ifndef __SIZEOF_INT128__
#error "stream_c needs unsigned __int128; the numpy reference is used without it"
#endif

typedef unsigned __int128 u128;

/* PCG's default 128-bit LCG multiplier (numpy's PCG64 uses it too) */
#define MULT (((u128)0x2360ED051FC65DA4ULL << 64) | (u128)0x4385DF649FCCF645ULL)

/* rows longer than this are refused (16 Mi doubles: far past any layout's need) */
#define MAX_K ((Py_ssize_t)1 << 24)

/* 16 big-endian bytes as one 128-bit integer */
static u128 be128(const unsigned char *p)
{
    u128 v = 0;
    int i;
    for (i = 0; i < 16; i++)
        v = (v << 8) | p[i];
    return v;
}

/* A PCG64 stream in numpy's layout: the LCG's state and increment, and the 32-bit half an
   output kept for the next 32-bit draw. */
typedef struct {
    u128 state, inc;
    int has32;
    uint32_t kept;
} stream;

/* The next 64-bit output: advance the LCG, then XSL-RR (numpy's step-then-output order). */
static uint64_t next64(stream *s)
{
    uint64_t x;
    unsigned rot;
    s->state = s->state * MULT + s->inc;
    x = (uint64_t)(s->state >> 64) ^ (uint64_t)s->state;
    rot = (unsigned)(s->state >> 122);
    return (x >> rot) | (x << ((64 - rot) & 63));
}

/* A double in [0, 1): the output's top 53 bits times 2**-53, as numpy's random(). */
static double next_double(stream *s)
{
    return (double)(next64(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* One row: k doubles of the stream started at (state, inc). */
static void fill_row(u128 state, u128 inc, double *row, Py_ssize_t k)
{
    stream s = {state, inc, 0, 0};
    Py_ssize_t i;
    for (i = 0; i < k; i++)
        row[i] = next_double(&s);
}

static PyObject *uniforms(PyObject *self, PyObject *args)
{
    Py_buffer dig, out;
    PyObject *kobj, *target, *result = NULL;
    Py_ssize_t k, count, j;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*OO:uniforms", &dig, &kobj, &target))
        return NULL;
    /* an integer past Py_ssize_t is clipped to its range (then refused below as out of range) */
    if ((k = PyNumber_AsSsize_t(kobj, NULL)) == -1 && PyErr_Occurred()) {
        PyBuffer_Release(&dig);
        return NULL;
    }
    /* the format is asked for so that only a float64 buffer is accepted */
    if (PyObject_GetBuffer(target, &out, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&dig);
        return NULL;
    }
    count = dig.len / 32;
    if (dig.len % 32 != 0) {
        PyErr_Format(PyExc_ValueError, "uniforms: digests must be 32 bytes each, got %zd bytes in all", dig.len);
        goto done;
    }
    if (k < 0 || k > MAX_K) {
        PyErr_Format(PyExc_ValueError, "uniforms: k must be in [0, %zd], got %zd", MAX_K, k);
        goto done;
    }
    if ((k > 0 && count > PY_SSIZE_T_MAX / (Py_ssize_t)sizeof(double) / k) || out.format == NULL ||
        strcmp(out.format, "d") != 0 || out.len != count * k * (Py_ssize_t)sizeof(double)) {
        PyErr_Format(PyExc_ValueError, "uniforms: out must be a C-contiguous float64 buffer of %zd x %zd doubles",
                     count, k);
        goto done;
    }
    {
        const unsigned char *d = (const unsigned char *)dig.buf;
        double *o = (double *)out.buf;
        for (j = 0; j < count; j++)
            fill_row(be128(d + 32 * j), be128(d + 32 * j + 16) | 1, o + j * k, k);
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&dig);
    PyBuffer_Release(&out);
    return result;
}

/* ------------------------------------------------------------------------------------------
   A block's cue draws: numpy's Generator.shuffle of arange(half), then random(half). */

/* numpy's 32-bit draw from its 64-bit generator: the low half of a fresh output, whose high
   half is kept for the next call (the double draws never read or clear it). */
static uint32_t next32(stream *s)
{
    uint64_t x;
    if (s->has32) {
        s->has32 = 0;
        return s->kept;
    }
    x = next64(s);
    s->has32 = 1;
    s->kept = (uint32_t)(x >> 32);
    return (uint32_t)x;
}

/* a uniform integer in [0, max] for max < 2**32, as numpy draws it: masked 32-bit draws,
   rejected while above max */
static uint32_t interval32(stream *s, uint32_t max)
{
    uint32_t mask = max, v;
    if (max == 0)
        return 0;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    while ((v = next32(s) & mask) > max)
        ;
    return v;
}

static PyObject *cue_draws(PyObject *self, PyObject *args)
{
    Py_buffer dig;
    Py_ssize_t half, i;
    PyObject *perm = NULL, *flips = NULL, *result = NULL;
    long *order = NULL;
    stream s;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n:cue_draws", &dig, &half))
        return NULL;
    if (dig.len != 32 || half < 1 || half > MAX_K) {
        PyErr_Format(PyExc_ValueError, "cue_draws: needs one 32-byte digest and half in [1, %zd]", MAX_K);
        goto done;
    }
    if ((order = PyMem_New(long, (size_t)half)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    s.state = be128((const unsigned char *)dig.buf);
    s.inc = be128((const unsigned char *)dig.buf + 16) | 1;
    s.has32 = 0;
    s.kept = 0;
    /* Fisher-Yates from the end, as numpy's shuffle of a 1-d array */
    for (i = 0; i < half; i++)
        order[i] = (long)i;
    for (i = half - 1; i > 0; i--) {
        Py_ssize_t j = (Py_ssize_t)interval32(&s, (uint32_t)i);
        long t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    if ((perm = PyList_New(half)) == NULL || (flips = PyList_New(half)) == NULL)
        goto done;
    for (i = 0; i < half; i++) {
        PyObject *v = PyLong_FromLong(order[i]);
        if (v == NULL)
            goto done;
        PyList_SET_ITEM(perm, i, v);
    }
    for (i = 0; i < half; i++) {
        PyObject *u = PyFloat_FromDouble(next_double(&s));
        if (u == NULL)
            goto done;
        PyList_SET_ITEM(flips, i, u);
    }
    result = PyTuple_Pack(2, perm, flips);
done:
    Py_XDECREF(perm);
    Py_XDECREF(flips);
    PyMem_Free(order);
    PyBuffer_Release(&dig);
    return result;
}

static PyMethodDef methods[] = {
    {"uniforms", uniforms, METH_VARARGS, "uniforms(digests, k, out): k PCG64 doubles per 32-byte digest into out."},
    {"cue_draws", cue_draws, METH_VARARGS, "cue_draws(digest, half): numpy's shuffle of arange(half), then random(half)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "depthbench.generators._stream_c", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__stream_c(void)
{
    return PyModule_Create(&module);
}
