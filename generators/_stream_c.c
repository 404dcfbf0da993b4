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

/* One row: k doubles of the stream started at (state, inc). */
static void fill_row(u128 state, u128 inc, double *row, Py_ssize_t k)
{
    Py_ssize_t i;
    for (i = 0; i < k; i++) {
        uint64_t x;
        unsigned rot;
        state = state * MULT + inc;
        x = (uint64_t)(state >> 64) ^ (uint64_t)state;
        rot = (unsigned)(state >> 122);
        x = (x >> rot) | (x << ((64 - rot) & 63));
        row[i] = (double)(x >> 11) * (1.0 / 9007199254740992.0);
    }
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

static PyMethodDef methods[] = {
    {"uniforms", uniforms, METH_VARARGS, "uniforms(digests, k, out): k PCG64 doubles per 32-byte digest into out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "depthbench.generators._stream_c", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__stream_c(void)
{
    return PyModule_Create(&module);
}
