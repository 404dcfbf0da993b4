/* Compiled fast paths of depthbench.generators (graph_c): optional. Every function here has a
   pure-Python reference in the family's module, which is used when this extension is missing.

   graph_connectivity's certifier and statement, for instances of the exact canonical shape:
   a dict whose num_nodes, source, targets and edge ends are exact ints (no bool, no int
   subclass, no numpy scalar), whose targets and edges are exact lists or tuples of two.
   Anything else -- and every instance the reference would refuse -- returns None, "not
   handled", and the caller runs the Python reference on it, so every error a user sees is
   the reference's, word for word. Nothing here raises on bad input; an exception means
   memory ran out. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_ascii_text.h"

/* ---------------------------------------------------------------- reading the instance */

/* The value of an exact int in [0, n) into *out: 1, else 0 (any other type, or a value
   outside the range, also one past int64). Never leaves an exception set. */
static int label(PyObject *o, long long n, int32_t *out)
{
    if (!PyLong_CheckExact(o))
        return 0;
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow || x < 0 || x >= n)  /* an exact int cannot make this fail otherwise */
        return 0;
    *out = (int32_t)x;
    return 1;
}

/* The value of an exact int that fits int64 into *out: 1, else 0. */
static int plain_int(PyObject *o, long long *out)
{
    if (!PyLong_CheckExact(o))
        return 0;
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(o, &overflow);
    return !overflow;
}

/* The items of an exact list or tuple: 1 with *items and *len set, else 0. */
static int sequence(PyObject *o, PyObject ***items, Py_ssize_t *len)
{
    if (!PyList_CheckExact(o) && !PyTuple_CheckExact(o))
        return 0;
    *items = PySequence_Fast_ITEMS(o);  /* valid for a list or a tuple; borrowed */
    *len = PySequence_Fast_GET_SIZE(o);
    return 1;
}

/* The two items of an exact list or tuple of length 2: 1, else 0. */
static int pair(PyObject *o, PyObject **a, PyObject **b)
{
    PyObject **items;
    Py_ssize_t len;
    if (!sequence(o, &items, &len) || len != 2)
        return 0;
    *a = items[0];
    *b = items[1];
    return 1;
}

/* The instance's keys, interned once at import. */
static PyObject *KEY_NUM_NODES, *KEY_SOURCE, *KEY_TARGETS, *KEY_EDGES, *KEY_KIND;

/* instance[key] of an exact dict holding key, as a new reference, else NULL with no
   exception set. A new reference because a lookup can run Python code: another key of the
   same hash is compared with key by its __eq__, which may change the dict and free the
   values read before. A lookup that raises (such an __eq__) reads as missing, so the
   reference meets that key itself. */
static PyObject *field(PyObject *instance, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(instance, key);
    if (!v)
        PyErr_Clear();
    Py_XINCREF(v);
    return v;
}

/* ---------------------------------------------------------------- certify */

/* certify(instance, max_num_nodes) -> (depth, answer, solution_trace) or None.

   The reference's breadth-first search, step for step: adjacency lists built in edge order
   (edge (u, v) appends v to u's list, then u to v's), a FIFO queue from the source, a node's
   parent the first node that reaches it. The lists are one array (CSR): degrees counted,
   then each node's slots filled in edge order, which keeps every list's order. None when the
   reference would refuse the instance or its shape is not the canonical one. */
static PyObject *certify(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "certify(instance, max_num_nodes)");
        return NULL;
    }
    PyObject *instance = args[0];
    long long limit;
    if (!plain_int(args[1], &limit)) {
        PyErr_SetString(PyExc_TypeError, "max_num_nodes must be an int");
        return NULL;
    }
    if (!PyDict_CheckExact(instance))
        Py_RETURN_NONE;
    /* the reference's order of lookups */
    PyObject *n_obj = field(instance, KEY_NUM_NODES), *s_obj = field(instance, KEY_SOURCE);
    PyObject *targets = field(instance, KEY_TARGETS), *edges = field(instance, KEY_EDGES);
    PyObject *result = Py_None, *t1_obj, *t2_obj, **rows;
    char *block = NULL;
    long long n;
    Py_ssize_t num_edges;
    int32_t s, t1, t2;
    if (!n_obj || !s_obj || !targets || !edges || !plain_int(n_obj, &n) || n < 1 || n > limit
        || n > INT32_MAX || !pair(targets, &t1_obj, &t2_obj) || !label(s_obj, n, &s)
        || !label(t1_obj, n, &t1) || !label(t2_obj, n, &t2) || t1 == t2
        || !sequence(edges, &rows, &num_edges) || num_edges > PY_SSIZE_T_MAX / 32 - n)  /* block size */
        goto done;

    /* one block: the edge ends (2E), each node's first slot (n + 1), the adjacency slots
       (2E), the parents (n) and the queue (n) */
    Py_ssize_t nn = (Py_ssize_t)n, slots = 2 * num_edges;
    block = PyMem_Malloc(sizeof(int32_t) * (size_t)(slots + slots + nn + nn)
                         + sizeof(Py_ssize_t) * (size_t)(nn + 1));
    if (!block) {
        result = PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t *start = (Py_ssize_t *)block;
    int32_t *ends = (int32_t *)(start + nn + 1), *adj = ends + slots, *parent = adj + slots;
    int32_t *queue = parent + nn;

    /* The edges are read here and only here: the lists allocated below may run the cyclic
       collector, hence finalizers that change the instance, so nothing after them reads it. */
    for (Py_ssize_t j = 0; j < num_edges; j++) {
        PyObject *a, *b;
        if (!pair(rows[j], &a, &b) || !label(a, n, &ends[2 * j]) || !label(b, n, &ends[2 * j + 1]))
            goto done;
    }
    memset(start, 0, sizeof(Py_ssize_t) * (size_t)(nn + 1));
    for (Py_ssize_t i = 0; i < slots; i++)
        start[ends[i] + 1]++;
    for (Py_ssize_t v = 0; v < nn; v++)
        start[v + 1] += start[v];
    /* start[v] is now v's first slot; used as v's cursor while the lists fill in edge order */
    for (Py_ssize_t j = 0; j < num_edges; j++) {
        int32_t u = ends[2 * j], v = ends[2 * j + 1];
        adj[start[u]++] = v;
        adj[start[v]++] = u;
    }
    /* each start[v] now points one past v's list, i.e. at the start of v + 1's: shift back */
    for (Py_ssize_t v = nn; v > 0; v--)
        start[v] = start[v - 1];
    start[0] = 0;

    for (Py_ssize_t v = 0; v < nn; v++)
        parent[v] = -1;
    parent[s] = s;
    queue[0] = s;
    Py_ssize_t head = 0, tail = 1;
    while (head < tail) {
        int32_t u = queue[head++];
        for (Py_ssize_t i = start[u]; i < start[u + 1]; i++) {
            int32_t v = adj[i];
            if (parent[v] < 0) {
                parent[v] = u;
                queue[tail++] = v;
            }
        }
    }
    int r1 = parent[t1] >= 0, r2 = parent[t2] >= 0;
    if (r1 == r2)
        goto done;

    /* the path from the source to the reachable target, as the reference's list of labels */
    int32_t found = r1 ? t1 : t2;
    Py_ssize_t length = 1;
    for (int32_t t = found; t != s; t = parent[t])
        length++;
    /* from the arrays alone (a finalizer run from here on may have changed the instance) */
    result = NULL;  /* unless every object below is made */
    char text_buf[24], *text_end = text_buf + sizeof text_buf, *text_first = text_digits(found, text_end);
    PyObject *answer = PyUnicode_FromStringAndSize(text_first, text_end - text_first), *depth = NULL, *path = NULL;
    if (answer && (depth = PyLong_FromSsize_t(length - 1)) && (path = PyList_New(length))) {
        Py_ssize_t i = length;
        for (int32_t t = found; i > 0; t = parent[t]) {  /* back to the source, filled right to left */
            PyObject *x = PyLong_FromLong(t);
            if (!x)
                break;
            PyList_SET_ITEM(path, --i, x);
        }
        if (i == 0)
            result = PyTuple_Pack(3, depth, answer, path);
    }
    Py_XDECREF(answer);
    Py_XDECREF(depth);
    Py_XDECREF(path);  /* a slot left NULL by a failure is skipped */

done:
    PyMem_Free(block);
    Py_XDECREF(n_obj);
    Py_XDECREF(s_obj);
    Py_XDECREF(targets);
    Py_XDECREF(edges);
    if (result == Py_None)
        Py_RETURN_NONE;
    return result;
}

/* ---------------------------------------------------------------- describe */

/* describe(instance) -> str or None: the reference describe()'s statement, for exact ints
   (any int64 value: the reference states every int label as its decimal text), exact
   lists/tuples of two and an ASCII exact-str kind; None otherwise. */
static PyObject *describe(PyObject *Py_UNUSED(self), PyObject *instance)
{
    if (!PyDict_CheckExact(instance))
        Py_RETURN_NONE;
    /* the reference's order of lookups (a colliding key's __eq__ may change the dict between them) */
    PyObject *n_obj = field(instance, KEY_NUM_NODES), *edges = field(instance, KEY_EDGES);
    PyObject *targets = field(instance, KEY_TARGETS), *kind = field(instance, KEY_KIND);
    PyObject *s_obj = field(instance, KEY_SOURCE), *t1_obj, *t2_obj, **rows;
    PyObject *result = Py_None;
    ascii_text t = {NULL, 0, 0};
    long long n, s, t1, t2;
    Py_ssize_t num_edges;
    if (!n_obj || !edges || !kind || !s_obj || !targets || !plain_int(n_obj, &n) || n == LLONG_MIN
        || !sequence(edges, &rows, &num_edges) || !pair(targets, &t1_obj, &t2_obj)
        || !plain_int(s_obj, &s) || !plain_int(t1_obj, &t1) || !plain_int(t2_obj, &t2)
        || !PyUnicode_CheckExact(kind) || !PyUnicode_IS_ASCII(kind))
        goto done;

    /* room for the head and ~12 characters per edge ("123-456, "): one allocation as a rule */
    if (num_edges < (PY_SSIZE_T_MAX - 256) / 16) {
        t.cap = 256 + 12 * num_edges;
        if (!(t.data = PyMem_Malloc((size_t)t.cap))) {
            result = PyErr_NoMemory();
            goto done;
        }
    }
    if (text_put_str(&t, "Graph type: ") < 0
        || text_put(&t, (const char *)PyUnicode_1BYTE_DATA(kind), PyUnicode_GET_LENGTH(kind)) < 0
        || text_put_str(&t, "\nNodes: ") < 0 || text_put_int(&t, n) < 0 || text_put_str(&t, " (labelled 0 to ") < 0
        || text_put_int(&t, n - 1) < 0 || text_put_str(&t, ")\nEdges (undirected): ") < 0)
        goto fail;
    for (Py_ssize_t j = 0; j < num_edges; j++) {
        PyObject *a, *b;
        long long u, v;
        if (!pair(rows[j], &a, &b) || !plain_int(a, &u) || !plain_int(b, &v))
            goto done;
        /* ", u-v" (no separator before the first), formatted right to left in one buffer */
        char buf[64], *end = buf + sizeof buf;
        char *first = text_digits(v, end);
        *--first = '-';
        first = text_digits(u, first);
        if (j) {
            *--first = ' ';
            *--first = ',';
        }
        if (text_put(&t, first, end - first) < 0)
            goto fail;
    }
    if (text_put_str(&t, "\nSource: ") < 0 || text_put_int(&t, s) < 0 || text_put_str(&t, "\nTargets: ") < 0
        || text_put_int(&t, t1) < 0 || text_put_str(&t, ", ") < 0 || text_put_int(&t, t2) < 0)
        goto fail;
    result = text_str(&t);
    goto done;
fail:
    result = NULL;
done:
    PyMem_Free(t.data);
    Py_XDECREF(n_obj);
    Py_XDECREF(edges);
    Py_XDECREF(targets);
    Py_XDECREF(kind);
    Py_XDECREF(s_obj);
    if (result == Py_None)
        Py_RETURN_NONE;
    return result;
}

/* ---------------------------------------------------------------- edge lists */

/* A C-contiguous 2-D int64 array's buffer into *view, its shape checked against rows and
   cols (-1: any): 1, else 0 with an exception set. */
static int int64_rows(PyObject *array, Py_buffer *view, Py_ssize_t rows, Py_ssize_t cols)
{
    if (PyObject_GetBuffer(array, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return 0;
    /* a signed 8-byte integer in native order: "l" or "q", maybe after "@", "=" or "<" */
    const char *f = view->format ? view->format : "B";
    if (*f == '@' || *f == '=' || (*f == '<' && PY_LITTLE_ENDIAN))
        f++;
    if (view->ndim == 2 && view->itemsize == 8 && (!strcmp(f, "l") || !strcmp(f, "q"))
        && (rows < 0 || view->shape[0] == rows) && (cols < 0 || view->shape[1] == cols))
        return 1;
    PyBuffer_Release(view);
    PyErr_SetString(PyExc_ValueError, "edge_lists needs C-contiguous int64 arrays of matching shapes");
    return 0;
}

/* edge_lists(perm, ends, first_end) -> list: item j's edge list, row i being
   [perm[j, ends[j, f]], perm[j, ends[j, f ^ 1]]] with f = first_end[j, i] -- the
   generator's relabelling, edge order and orientation in one pass, the same lists as
   generate_batch's numpy gathers and tolist. perm (items, n), ends (items, 2E) and
   first_end (items, E) are int64; an index out of range raises ValueError (the arrays
   are the generator's own: that would be a bug). */
static PyObject *edge_lists(PyObject *Py_UNUSED(self), PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "edge_lists(perm, ends, first_end)");
        return NULL;
    }
    Py_buffer pv, ev, fv;
    if (!int64_rows(args[0], &pv, -1, -1))
        return NULL;
    Py_ssize_t count = pv.shape[0];
    if (!int64_rows(args[2], &fv, count, -1)) {
        PyBuffer_Release(&pv);
        return NULL;
    }
    Py_ssize_t n = pv.shape[1], num_edges = fv.shape[1];
    if (!int64_rows(args[1], &ev, count, 2 * num_edges)) {
        PyBuffer_Release(&pv);
        PyBuffer_Release(&fv);
        return NULL;
    }
    const int64_t *perm = pv.buf, *ends = ev.buf, *first = fv.buf;
    PyObject *out = PyList_New(count);
    if (!out)
        goto done;
    for (Py_ssize_t j = 0; j < count; j++, perm += n, ends += 2 * num_edges) {
        PyObject *edges = PyList_New(num_edges);
        if (!edges)
            goto fail;
        PyList_SET_ITEM(out, j, edges);
        for (Py_ssize_t i = 0; i < num_edges; i++) {
            int64_t f = *first++;
            if (f < 0 || f >= 2 * num_edges)
                goto bad;
            int64_t a = ends[f], b = ends[f ^ 1];
            if (a < 0 || a >= n || b < 0 || b >= n)
                goto bad;
            PyObject *e = PyList_New(2), *x;
            if (!e)
                goto fail;
            PyList_SET_ITEM(edges, i, e);
            if (!(x = PyLong_FromLongLong(perm[a])))
                goto fail;
            PyList_SET_ITEM(e, 0, x);
            if (!(x = PyLong_FromLongLong(perm[b])))
                goto fail;
            PyList_SET_ITEM(e, 1, x);
        }
    }
    goto done;
bad:
    PyErr_SetString(PyExc_ValueError, "edge_lists: an index is out of range");
fail:  /* unfilled slots are NULL, which list deallocation skips */
    Py_CLEAR(out);
done:
    PyBuffer_Release(&pv);
    PyBuffer_Release(&ev);
    PyBuffer_Release(&fv);
    return out;
}

static PyMethodDef methods[] = {
    {"certify", (PyCFunction)(void (*)(void))certify, METH_FASTCALL,
     "certify(instance, max_num_nodes) -> (depth, answer, solution_trace) or None (not handled)"},
    {"describe", describe, METH_O, "describe(instance) -> str or None (not handled)"},
    {"edge_lists", (PyCFunction)(void (*)(void))edge_lists, METH_FASTCALL,
     "edge_lists(perm, ends, first_end) -> the edge lists of a batch (generate_batch's gathers)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "depthbench.generators._graph_c", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit__graph_c(void)
{
    if (!KEY_NUM_NODES) {
        KEY_NUM_NODES = PyUnicode_InternFromString("num_nodes");
        KEY_SOURCE = PyUnicode_InternFromString("source");
        KEY_TARGETS = PyUnicode_InternFromString("targets");
        KEY_EDGES = PyUnicode_InternFromString("edges");
        KEY_KIND = PyUnicode_InternFromString("kind");
        if (!KEY_NUM_NODES || !KEY_SOURCE || !KEY_TARGETS || !KEY_EDGES || !KEY_KIND)
            return NULL;
    }
    return PyModule_Create(&module);
}
