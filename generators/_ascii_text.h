/* A growing buffer of ASCII text, for the compiled describe() paths of _arith_c.c and
   _graph_c.c (each includes this header; every function is static, one copy per module). */
#ifndef DEPTHBENCH_ASCII_TEXT_H
#define DEPTHBENCH_ASCII_TEXT_H

#include <Python.h>
#include <string.h>

typedef struct {
    char *data;  /* PyMem_Malloc'd (NULL until the first append); free with PyMem_Free */
    Py_ssize_t len, cap;
} ascii_text;

/* Append len bytes: 0, or -1 with MemoryError set. */
static int text_put(ascii_text *t, const char *s, Py_ssize_t len)
{
    if (t->len + len > t->cap) {
        Py_ssize_t cap = 2 * (t->len + len) + 256;
        char *data = PyMem_Realloc(t->data, (size_t)cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->data = data, t->cap = cap;
    }
    memcpy(t->data + t->len, s, (size_t)len);
    t->len += len;
    return 0;
}

static int text_put_str(ascii_text *t, const char *s) { return text_put(t, s, (Py_ssize_t)strlen(s)); }

/* Decimal digits of x written backwards, ending just before end (at most 20 characters);
   returns the first one. */
static char *text_digits(long long x, char *end)
{
    unsigned long long m = x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x;
    do {
        *--end = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (x < 0)
        *--end = '-';
    return end;
}

/* Append the decimal text of x: 0, or -1 with MemoryError set. */
static int text_put_int(ascii_text *t, long long x)
{
    char buf[24], *end = buf + sizeof buf;
    char *first = text_digits(x, end);
    return text_put(t, first, end - first);
}

/* The buffer's text as a new str (ASCII), or NULL with an exception set. */
static PyObject *text_str(const ascii_text *t)
{
    PyObject *s = PyUnicode_New(t->len, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), t->data, (size_t)t->len);
    return s;
}

#endif
