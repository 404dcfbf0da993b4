/* Compiled fast paths of depthbench.generators (arith_c): optional. Every function here has a
   pure-Python reference in the family's module, which is used when this extension is missing.

   multihop_arithmetic (generators/multihop_arithmetic.py) calls three functions:

   generate(u, bounds, names, ops, depth, modulus, threshold, order, size, answer_space, chance, problem)
       The problems of generate_batch from the uniform draws of its items (one float64 row
       each, scaled by `bounds` and truncated as _attempt does: the layout of _Layout),
       choice for choice as _attempt makes them: a list of `problem` objects (the Problem
       class).
   certify(instances, certificate)
       Per instance a `certificate` (depth, answer, None, {"evaluations": e}) exactly as
       certify() measures them, or None where the instance is not in the canonical shape this
       code reads (then the Python certify() decides, so every refusal is its own message).
   describe(instances, frame, question)
       Per instance describe()'s text, or None where the instance is not in the shape read
       here (then the Python describe() states it).

   "Canonical shape": exactly dict / list / str / int objects (no subclass: bool, numpy
   scalars and str subclasses go to Python), dicts whose keys are all exact str, ASCII
   strings, integers within int64. So no Python code runs while these loops read an instance
   (a key with its own __eq__ could otherwise change the containers under them). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "_ascii_text.h"

/* interned keys and values (made once at import) */
static PyObject *s_var, *s_op, *s_args, *s_value, *s_modulus, *s_statements, *s_query, *s_order,
    *s_evaluations, *s_integer, *s_plus;

#define SMALL 64 /* programs up to this many statements use work arrays on the C stack */

/* ------------------------------------------------------------------------------------------
   Small helpers */

/* The value of an exact int in [lo, hi), or -1 with *ok = 0 when `o` is anything else. */
static long long exact_int(PyObject *o, long long lo, long long hi, int *ok)
{
    int overflow = 0;
    long long v;
    *ok = 0;
    if (!PyLong_CheckExact(o))
        return -1;
    v = PyLong_AsLongLongAndOverflow(o, &overflow); /* cannot fail on an exact int */
    if (overflow || v < lo || v >= hi)
        return -1;
    *ok = 1;
    return v;
}

/* The ASCII character of a one-character exact str, or 0. */
static char one_char(PyObject *o)
{
    if (o == NULL || !PyUnicode_CheckExact(o) || !PyUnicode_IS_ASCII(o) || PyUnicode_GET_LENGTH(o) != 1)
        return 0;
    return (char)PyUnicode_1BYTE_DATA(o)[0];
}

/* An exact str equal to the ASCII text `t`. */
static int is_text(PyObject *o, const char *t)
{
    return PyUnicode_CheckExact(o) && PyUnicode_IS_ASCII(o) &&
           (size_t)PyUnicode_GET_LENGTH(o) == strlen(t) && memcmp(PyUnicode_1BYTE_DATA(o), t, strlen(t)) == 0;
}

/* 0 topological, 1 reversed, 2 shuffled; -1 for anything else. */
static int order_code(PyObject *o)
{
    if (o == NULL)
        return -1;
    return is_text(o, "topological") ? 0 : is_text(o, "reversed") ? 1 : is_text(o, "shuffled") ? 2 : -1;
}

/* x op y modulo m for x, y in [0, m), m < 2**63; op one of + - * =. */
static unsigned long long apply(char op, unsigned long long x, unsigned long long y, unsigned long long m)
{
    switch (op) {
    case '+': return (x + y) % m;
    case '-': return (x + m - y) % m;
#ifdef __SIZEOF_INT128__
    case '*': return (unsigned long long)((unsigned __int128)x * y % m);
#else
    case '*': return x * y % m; /* the callers keep m < 2**32 without 128-bit integers */
#endif
    default: return x; /* '=' */
    }
}

#ifdef __SIZEOF_INT128__
#define MODULUS_LIMIT 0x7fffffffffffffffLL
#else
#define MODULUS_LIMIT 0xffffffffLL
#endif

/* Whether every key of the exact dict `d` is an exact str. Only then does a lookup by a str
   key run no Python code: any other key (a str subclass, or an object with its own __hash__
   and __eq__) is compared through its own __eq__, which may raise, or empty the very lists and
   dicts this code holds borrowed references into. Such a dict is left to Python. */
static int str_keys(PyObject *d)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(d, &pos, &key, &value))
        if (!PyUnicode_CheckExact(key))
            return 0;
    return 1;
}

/* The var, op and args of a statement (borrowed): 1, or 0 when `st` is not an exact dict with
   exact str keys (see str_keys) or one is missing. One pass over the entries checks the keys
   and finds the interned ones (the generator's, and Python's literals); another str equal to
   one of them is then looked up. */
static int statement_fields(PyObject *st, PyObject **var, PyObject **op, PyObject **args)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    if (!PyDict_CheckExact(st))
        return 0;
    *var = *op = *args = NULL;
    while (PyDict_Next(st, &pos, &key, &value)) {
        if (key == s_var)
            *var = value;
        else if (key == s_op)
            *op = value;
        else if (key == s_args)
            *args = value;
        else if (!PyUnicode_CheckExact(key))
            return 0;
    }
    if (*var == NULL)
        *var = PyDict_GetItemWithError(st, s_var); /* str keys only: these lookups cannot raise */
    if (*op == NULL)
        *op = PyDict_GetItemWithError(st, s_op);
    if (*args == NULL)
        *args = PyDict_GetItemWithError(st, s_args);
    return *var != NULL && *op != NULL && *args != NULL;
}

/* ------------------------------------------------------------------------------------------
   generate */

/* {"var": var, "op": op, "args": [x, y]}; steals x and y (also on failure). */
static PyObject *statement(PyObject *var, PyObject *op, PyObject *x, PyObject *y)
{
    PyObject *args, *st;
    if (x == NULL || y == NULL || (args = PyList_New(2)) == NULL) {
        Py_XDECREF(x);
        Py_XDECREF(y);
        return NULL;
    }
    PyList_SET_ITEM(args, 0, x);
    PyList_SET_ITEM(args, 1, y);
    st = PyDict_New();
    if (st == NULL || PyDict_SetItem(st, s_var, var) < 0 || PyDict_SetItem(st, s_op, op) < 0 ||
        PyDict_SetItem(st, s_args, args) < 0) {
        Py_XDECREF(st);
        st = NULL;
    }
    Py_DECREF(args);
    return st;
}

/* One statement as generated: its operation and two operands, each a slot (var) or a constant. */
typedef struct {
    PyObject *op; /* borrowed: an item of ops, or "+" */
    long long arg[2];
    char var[2];
} gen_stmt;

/* Work arrays of one generate call (n entries each). */
typedef struct {
    Py_ssize_t *perm, *pool, *chain, *show;
    char *is_chain;
    long long *value;
    gen_stmt *st;
} gen_work;

/* Operand k of a generated statement: a new reference to a name or an int. */
static PyObject *operand(const gen_stmt *g, int k, PyObject *names, const Py_ssize_t *perm)
{
    PyObject *o;
    if (!g->var[k])
        return PyLong_FromLongLong(g->arg[k]);
    o = PyTuple_GET_ITEM(names, perm[g->arg[k]]);
    Py_INCREF(o);
    return o;
}

static const char BAD_DRAW[] = "_arith_c.generate: a draw outside its bound (not a _Layout draw)";

/* One item from its draws D (see _attempt, which this follows step by step); NULL on error.
   The choices and values are computed first, in creation order; the Python objects are then
   made in presentation order (the order they are later read and freed in). */
static PyObject *generate_one(const long long *D, Py_ssize_t n, Py_ssize_t d, long long m, long long thr,
                              int order, PyObject *names, PyObject *ops, const char *opc, Py_ssize_t nops,
                              PyObject *modulus, PyObject *order_obj, PyObject *size, PyObject *space,
                              PyObject *chance, PyObject *depth_obj, PyObject *cls, gen_work *w)
{
    Py_ssize_t k = 6 * n, i, s, c = 0, last = 0;
    PyObject *result = NULL, *list = NULL, *trace = NULL, *inst = NULL, *answer = NULL, *sz = NULL, *sp = NULL;

    /* names: Fisher-Yates swaps of x0 .. x{n-1} */
    for (i = 0; i < n; i++)
        w->perm[i] = i;
    for (i = n - 1; i > 0; i--) {
        long long j = D[k++];
        Py_ssize_t t;
        if (j < 0 || j > i)
            goto bad_draw;
        t = w->perm[i], w->perm[i] = w->perm[j], w->perm[j] = t;
    }
    /* the chain: slot 0 and d - 1 slots of 1 .. n-1 (a partial Fisher-Yates) */
    memset(w->is_chain, d == n, (size_t)n);
    w->is_chain[0] = 1;
    if (d < n) {
        for (i = 0; i < n - 1; i++)
            w->pool[i] = i + 1;
        for (i = 0; i < d - 1; i++) {
            long long j = D[k + i];
            Py_ssize_t t;
            if (j < 0 || j > n - 2 - i) /* (before the sum, which could overflow) */
                goto bad_draw;
            j += i;
            t = w->pool[i], w->pool[i] = w->pool[j], w->pool[j] = t;
            w->is_chain[w->pool[i]] = 1;
        }
    }
    k += d - 1;

    for (s = 0; s < n; s++) {
        long long opi = D[s], swap = D[n + s], coin = D[2 * n + s], first = D[3 * n + s];
        long long second = D[4 * n + s], cst = D[5 * n + s], xv = 0, yv, a = -1, b = -1;
        gen_stmt *g = &w->st[s];
        char oc;
        if (opi < 0 || opi >= nops || first < 0 || second < 0 || second >= (1LL << 30) || cst < 0)
            goto bad_draw; /* (second < 2**30 keeps the operand slots below it in range) */
        oc = opc[opi];
        g->op = PyTuple_GET_ITEM(ops, opi);
        if (s == 0) { /* the root: one operation on two constants */
            if (first >= m)
                goto bad_draw;
            xv = first;
        } else if (w->is_chain[s]) { /* the predecessor and a constant or an earlier chain variable */
            a = last;
            if (coin < thr && c >= 2)
                b = w->chain[(second * (c - 1)) >> 30];
        } else { /* a distractor: an earlier variable and a constant or another one */
            if (first >= s)
                goto bad_draw;
            a = first;
            if (coin < thr && s >= 2) {
                b = (second * (s - 1)) >> 30;
                if (b >= a)
                    b++;
            }
        }
        if (w->is_chain[s]) {
            w->chain[c++] = s;
            last = s;
        }
        if (a >= 0)
            xv = w->value[a];
        if (b < 0) { /* a constant that keeps the step a bijection: 2..m-1 for '*', else 1..m-1 */
            yv = oc == '*' ? 2 + cst % (m - 2) : 1 + cst % (m - 1);
            if (oc == '*' && xv == 0) /* avoid the absorbing * 0 */
                oc = '+', g->op = s_plus;
        } else {
            yv = w->value[b];
            if (oc == '*' && (xv == 0 || yv == 0))
                oc = '+', g->op = s_plus;
        }
        g->var[0] = a >= 0, g->arg[0] = a >= 0 ? a : xv;
        g->var[1] = b >= 0, g->arg[1] = b >= 0 ? b : yv;
        if (swap) {
            long long t = g->arg[0], tv = xv;
            char tvar = g->var[0];
            g->arg[0] = g->arg[1], g->var[0] = g->var[1], xv = yv;
            g->arg[1] = t, g->var[1] = tvar, yv = tv;
        }
        w->value[s] = (long long)apply(oc, (unsigned long long)xv, (unsigned long long)yv, (unsigned long long)m);
    }

    /* presentation order: show[i] is the slot stated at position i */
    for (i = 0; i < n; i++)
        w->show[i] = order == 1 ? n - 1 - i : i;
    if (order == 2) {
        for (i = n - 1; i > 0; i--) {
            long long j = D[k++];
            Py_ssize_t t;
            if (j < 0 || j > i)
                goto bad_draw;
            t = w->show[i], w->show[i] = w->show[j], w->show[j] = t;
        }
    }
    if ((list = PyList_New(n)) == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        const gen_stmt *g = &w->st[w->show[i]];
        PyObject *st = statement(PyTuple_GET_ITEM(names, w->perm[w->show[i]]), g->op, operand(g, 0, names, w->perm),
                                 operand(g, 1, names, w->perm));
        if (st == NULL)
            goto done;
        PyList_SET_ITEM(list, i, st);
    }

    /* the trace: the chain in creation order, ending with the query */
    if ((trace = PyList_New(d)) == NULL)
        goto done;
    for (i = 0; i < d; i++) {
        PyObject *step = PyDict_New(), *v = PyLong_FromLongLong(w->value[w->chain[i]]);
        if (step == NULL || v == NULL || PyDict_SetItem(step, s_var, PyTuple_GET_ITEM(names, w->perm[w->chain[i]])) < 0 ||
            PyDict_SetItem(step, s_value, v) < 0) {
            Py_XDECREF(step);
            Py_XDECREF(v);
            goto done;
        }
        Py_DECREF(v);
        PyList_SET_ITEM(trace, i, step);
    }
    answer = PyLong_FromLongLong(w->value[w->chain[d - 1]]);
    inst = PyDict_New();
    if (answer == NULL || inst == NULL || PyDict_SetItem(inst, s_modulus, modulus) < 0 ||
        PyDict_SetItem(inst, s_statements, list) < 0 ||
        PyDict_SetItem(inst, s_query, PyTuple_GET_ITEM(names, w->perm[w->chain[d - 1]])) < 0 ||
        PyDict_SetItem(inst, s_order, order_obj) < 0)
        goto done;
    sz = PyDict_Copy(size);
    sp = PyDict_Copy(space);
    if (sz != NULL && sp != NULL) {
        PyObject *argv[8] = {inst, answer, s_integer, depth_obj, trace, sz, chance, sp};
        result = PyObject_Vectorcall(cls, argv, 8, NULL);
    }
    goto done;

bad_draw:
    PyErr_SetString(PyExc_ValueError, BAD_DRAW);
done:
    Py_XDECREF(list);
    Py_XDECREF(trace);
    Py_XDECREF(inst);
    Py_XDECREF(answer);
    Py_XDECREF(sz);
    Py_XDECREF(sp);
    return result;
}

static PyObject *generate(PyObject *self, PyObject *args)
{
    PyObject *u_obj, *bounds_obj, *names, *ops, *modulus, *order_obj, *size, *space, *chance, *cls, *out = NULL;
    PyObject *depth_obj = NULL;
    long long *D = NULL;
    const double *u, *bounds;
    Py_ssize_t d, n, nops, count, K, r;
    long long m, thr;
    char opc[3];
    int order;
    Py_buffer view, bview;
    gen_work w = {0};

    if (!PyArg_ParseTuple(args, "OOO!O!nO!LUO!O!O!O:generate", &u_obj, &bounds_obj, &PyTuple_Type, &names, &PyTuple_Type, &ops,
                          &d, &PyLong_Type, &modulus, &thr, &order_obj, &PyDict_Type, &size, &PyDict_Type, &space,
                          &PyFloat_Type, &chance, &cls))
        return NULL;
    if ((m = PyLong_AsLongLong(modulus)) == -1 && PyErr_Occurred())
        return NULL;
    n = PyTuple_GET_SIZE(names);
    nops = PyTuple_GET_SIZE(ops);
    order = order_code(order_obj);
    if (n < 1 || d < 1 || d > n || m < 3 || m >= (1LL << 31) || nops < 1 || nops > 3 || order < 0) {
        PyErr_SetString(PyExc_ValueError, "_arith_c.generate: arguments outside the supported configs");
        return NULL;
    }
    for (r = 0; r < nops; r++)
        if (!(opc[r] = one_char(PyTuple_GET_ITEM(ops, r))) || !strchr("+-*", opc[r])) {
            PyErr_SetString(PyExc_ValueError, "_arith_c.generate: ops must be '+', '-' or '*'");
            return NULL;
        }
    K = 6 * n + (n - 1) + (d - 1) + (order == 2 ? n - 1 : 0);
    if (PyObject_GetBuffer(u_obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(bounds_obj, &bview, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (view.ndim != 2 || view.format == NULL || strcmp(view.format, "d") != 0 || view.shape[1] != K ||
        bview.ndim != 1 || bview.format == NULL || strcmp(bview.format, "d") != 0 || bview.shape[0] != K) {
        PyErr_SetString(PyExc_ValueError, "_arith_c.generate: u must be a C-contiguous float64 (count, K) array "
                                          "and bounds a float64 (K,) one");
        goto fail;
    }
    count = view.shape[0];
    u = (const double *)view.buf;
    bounds = (const double *)bview.buf;
    w.perm = PyMem_New(Py_ssize_t, n);
    w.pool = PyMem_New(Py_ssize_t, n);
    w.chain = PyMem_New(Py_ssize_t, n);
    w.is_chain = PyMem_New(char, n);
    w.value = PyMem_New(long long, n);
    w.show = PyMem_New(Py_ssize_t, n);
    w.st = PyMem_New(gen_stmt, n);
    D = PyMem_New(long long, K);
    if (!D || !w.perm || !w.pool || !w.chain || !w.show || !w.is_chain || !w.value || !w.st) {
        PyErr_NoMemory();
        goto fail;
    }
    if ((depth_obj = PyLong_FromSsize_t(d)) == NULL || (out = PyList_New(count)) == NULL)
        goto fail;
    for (r = 0; r < count; r++) {
        PyObject *p;
        Py_ssize_t j;
        /* the row's choices: uniform times bound, truncated (numpy's multiply and astype(int64));
           a product that is NaN, negative or past int64 is no draw (and its cast undefined) */
        for (j = 0; j < K; j++) {
            double x = u[r * K + j] * bounds[j];
            if (!(x >= 0.0 && x < 9223372036854775808.0)) {
                PyErr_SetString(PyExc_ValueError, BAD_DRAW);
                break;
            }
            D[j] = (long long)x;
        }
        p = j < K ? NULL : generate_one(D, n, d, m, thr, order, names, ops, opc, nops,
                                        modulus, order_obj, size, space, chance, depth_obj, cls, &w);
        if (p == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, r, p);
    }
fail:
    PyBuffer_Release(&view);
    PyBuffer_Release(&bview);
    PyMem_Free(D);
    PyMem_Free(w.perm);
    PyMem_Free(w.pool);
    PyMem_Free(w.chain);
    PyMem_Free(w.is_chain);
    PyMem_Free(w.value);
    PyMem_Free(w.show);
    PyMem_Free(w.st);
    Py_XDECREF(depth_obj);
    return out;
}

/* ------------------------------------------------------------------------------------------
   certify */

/* One statement as read: op, and per operand the position of its definition (>= 0) or -1
   and the constant; then the search's state. */
typedef struct {
    PyObject *args; /* borrowed: the statement's args list */
    Py_ssize_t var[2];
    unsigned long long cst[2], value;
    Py_ssize_t chain;
    int arity;
    char op, state; /* state: 0 not reached, 1 open (on the stack), 2 evaluated */
} node;

/* Name -> position, open addressing (names borrowed from the instance, which no Python code
   can change while this runs). */
typedef struct {
    PyObject *key;
    Py_hash_t hash;
    Py_ssize_t pos;
} slot;

/* Two exact str objects are equal (CPython stores equal strings in the same kind). */
static int same_str(PyObject *a, Py_hash_t ha, PyObject *b, Py_hash_t hb)
{
    Py_ssize_t len;
    if (a == b)
        return 1;
    len = PyUnicode_GET_LENGTH(a);
    return ha == hb && len == PyUnicode_GET_LENGTH(b) && PyUnicode_KIND(a) == PyUnicode_KIND(b) &&
           memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)(len * PyUnicode_KIND(a))) == 0;
}

/* The slot of `key` (found, or the empty one where it would go); mask + 1 is a power of two
   above the number of names, so an empty slot always exists. */
static slot *find(slot *table, size_t mask, PyObject *key, Py_hash_t h)
{
    size_t i = (size_t)h & mask;
    while (table[i].key != NULL && !same_str(table[i].key, table[i].hash, key, h))
        i = (i + 1) & mask;
    return &table[i];
}

/* A name of the prompt grammar [A-Za-z_][A-Za-z0-9_]* (what certify's _check_names accepts). */
static int is_name(PyObject *s)
{
    Py_ssize_t i, len = PyUnicode_GET_LENGTH(s);
    const unsigned char *p;
    if (!PyUnicode_IS_ASCII(s) || len == 0)
        return 0;
    p = PyUnicode_1BYTE_DATA(s);
    if (p[0] >= '0' && p[0] <= '9')
        return 0;
    for (i = 0; i < len; i++) {
        unsigned char ch = p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_'))
            return 0;
    }
    return 1;
}

/* Evaluate every statement reached from `start` depth first (post-order: operands first);
   the longest-path recurrence chain(v) = 1 + max(chain(u)). Returns the number of statements
   evaluated, or -1 on a cycle. */
static Py_ssize_t search(node *nodes, Py_ssize_t *stack, Py_ssize_t start, unsigned long long m)
{
    Py_ssize_t sp = 0, count = 0;
    nodes[start].state = 1;
    stack[sp++] = start;
    while (sp) {
        node *v = &nodes[stack[sp - 1]];
        int k, pushed = 0;
        for (k = 0; k < v->arity && !pushed; k++) {
            Py_ssize_t j = v->var[k];
            if (j < 0 || nodes[j].state == 2)
                continue;
            if (nodes[j].state == 1) /* an operand still open closes a cycle */
                return -1;
            nodes[j].state = 1;
            stack[sp++] = j;
            pushed = 1;
        }
        if (pushed)
            continue;
        {
            unsigned long long x[2] = {0, 0};
            Py_ssize_t c = 0;
            for (k = 0; k < v->arity; k++) {
                Py_ssize_t j = v->var[k];
                x[k] = j < 0 ? v->cst[k] : nodes[j].value;
                if (j >= 0 && nodes[j].chain > c)
                    c = nodes[j].chain;
            }
            v->value = apply(v->op, x[0], x[1], m);
            v->chain = c + 1;
            v->state = 2;
            count++;
            sp--;
        }
    }
    return count;
}

/* Read and certify one instance: 1 and the results when it is in the canonical shape and
   valid, 0 when the Python certify must decide, -1 on a memory error. */
static int certify_one(PyObject *inst, Py_ssize_t *depth, unsigned long long *answer, Py_ssize_t *evaluations)
{
    PyObject *mo, *sts, *query, *o, *args;
    Py_ssize_t n, i, q, cap;
    long long m;
    int ok, order, result = 0, k;
    node local_nodes[SMALL], *nodes = local_nodes;
    slot local_table[4 * SMALL], *table = local_table;
    Py_ssize_t local_stack[SMALL], *stack = local_stack;
    size_t mask;

    if (!PyDict_CheckExact(inst) || !str_keys(inst))
        return 0;
    mo = PyDict_GetItemWithError(inst, s_modulus); /* borrowed; str keys only: cannot raise */
    sts = PyDict_GetItemWithError(inst, s_statements);
    query = PyDict_GetItemWithError(inst, s_query);
    order = order_code(PyDict_GetItemWithError(inst, s_order));
    if (mo == NULL || sts == NULL || query == NULL || order < 0 || !PyList_CheckExact(sts) ||
        !PyUnicode_CheckExact(query))
        return 0;
    m = exact_int(mo, 2, MODULUS_LIMIT, &ok);
    n = PyList_GET_SIZE(sts);
    if (!ok || n == 0)
        return 0;
    for (cap = 8; cap < 2 * n; cap *= 2)
        ;
    mask = (size_t)cap - 1;
    if (n > SMALL) {
        nodes = PyMem_New(node, n);
        stack = PyMem_New(Py_ssize_t, n);
        table = PyMem_New(slot, cap);
        if (!nodes || !stack || !table) {
            PyErr_NoMemory();
            result = -1;
            goto done;
        }
    }
    memset(table, 0, sizeof(slot) * (size_t)cap);
    /* every variable defined once, under a name of the prompt grammar; every statement a known
       operation with an args list of its arity */
    for (i = 0; i < n; i++) {
        node *v = &nodes[i];
        PyObject *op;
        slot *e;
        Py_hash_t h;
        if (!statement_fields(PyList_GET_ITEM(sts, i), &o, &op, &v->args) || !PyUnicode_CheckExact(o) || !is_name(o) ||
            (h = PyObject_Hash(o)) == -1)
            goto done;
        e = find(table, mask, o, h);
        if (e->key != NULL) /* defined twice */
            goto done;
        e->key = o, e->hash = h, e->pos = i;
        v->op = one_char(op);
        v->arity = v->op == '=' ? 1 : (v->op == '+' || v->op == '-' || v->op == '*') ? 2 : 0;
        if (v->arity == 0 || !PyList_CheckExact(v->args) || PyList_GET_SIZE(v->args) != v->arity)
            goto done;
    }
    /* every operand: a defined variable or a constant in [0, m) */
    for (i = 0; i < n; i++) {
        node *v = &nodes[i];
        args = v->args;
        v->state = 0;
        for (k = 0; k < v->arity; k++) {
            o = PyList_GET_ITEM(args, k);
            if (PyUnicode_CheckExact(o)) {
                Py_hash_t h = PyObject_Hash(o);
                slot *e;
                if (h == -1)
                    goto done;
                e = find(table, mask, o, h);
                if (e->key == NULL) /* never defined */
                    goto done;
                v->var[k] = e->pos;
                /* a stated order must be true: topological uses only definitions above */
                if (order != 2 && (e->pos < i) != (order == 0))
                    goto done;
            } else {
                v->var[k] = -1;
                v->cst[k] = (unsigned long long)exact_int(o, 0, m, &ok);
                if (!ok)
                    goto done;
            }
        }
    }
    {
        Py_hash_t h = PyObject_Hash(query);
        slot *e;
        if (h == -1 || (e = find(table, mask, query, h))->key == NULL)
            goto done;
        q = e->pos;
    }
    /* the query's ancestors, then every other statement (a cycle anywhere is refused) */
    if ((*evaluations = search(nodes, stack, q, (unsigned long long)m)) < 0)
        goto done;
    for (i = 0; i < n; i++)
        if (nodes[i].state == 0 && search(nodes, stack, i, (unsigned long long)m) < 0)
            goto done;
    *depth = nodes[q].chain;
    *answer = nodes[q].value;
    result = 1;
done:
    if (PyErr_Occurred() && result != -1) /* a hash that failed: let Python decide */
        PyErr_Clear();
    if (nodes != local_nodes) {
        PyMem_Free(nodes);
        PyMem_Free(stack);
        PyMem_Free(table);
    }
    return result;
}

static PyObject *certify(PyObject *self, PyObject *args)
{
    PyObject *seq, *cls, *items, *out;
    Py_ssize_t i, n;
    if (!PyArg_ParseTuple(args, "OO:certify", &seq, &cls))
        return NULL;
    if ((items = PySequence_Fast(seq, "_arith_c.certify: instances must be a sequence")) == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(items);
    if ((out = PyList_New(n)) == NULL)
        goto fail;
    for (i = 0; i < n; i++) {
        Py_ssize_t depth, evaluations;
        unsigned long long answer;
        PyObject *cert;
        int r = certify_one(PySequence_Fast_GET_ITEM(items, i), &depth, &answer, &evaluations);
        if (r < 0)
            goto fail;
        if (r == 0) {
            Py_INCREF(Py_None);
            cert = Py_None;
        } else {
            PyObject *d = PyLong_FromSsize_t(depth), *a = PyLong_FromUnsignedLongLong(answer);
            PyObject *e = PyLong_FromSsize_t(evaluations), *extra = PyDict_New();
            cert = NULL;
            if (d && a && e && extra && PyDict_SetItem(extra, s_evaluations, e) == 0) {
                PyObject *argv[4] = {d, a, Py_None, extra};
                cert = PyObject_Vectorcall(cls, argv, 4, NULL);
            }
            Py_XDECREF(d);
            Py_XDECREF(a);
            Py_XDECREF(e);
            Py_XDECREF(extra);
            if (cert == NULL)
                goto fail;
        }
        PyList_SET_ITEM(out, i, cert);
    }
    Py_DECREF(items);
    return out;
fail:
    Py_DECREF(items);
    Py_XDECREF(out);
    return NULL;
}

/* ------------------------------------------------------------------------------------------
   describe */

/* Append str(o) for an exact ASCII str or an exact int within int64: 1 done, 0 not handled,
   -1 memory error. */
static int put_obj(ascii_text *b, PyObject *o)
{
    if (PyUnicode_CheckExact(o)) {
        if (!PyUnicode_IS_ASCII(o))
            return 0;
        return text_put(b, (const char *)PyUnicode_1BYTE_DATA(o), PyUnicode_GET_LENGTH(o)) < 0 ? -1 : 1;
    }
    if (PyLong_CheckExact(o)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow)
            return 0;
        return text_put_int(b, v) < 0 ? -1 : 1;
    }
    return 0;
}

/* Frame (head, tail) of the last (count, modulus, order) seen, from the Python _frame. */
typedef struct {
    Py_ssize_t count;
    long long m;
    int order;
    PyObject *pair;
} frame_cache;

/* The statement lines of `sts` into b: 1 done, 0 not handled, -1 error. */
static int put_statements(ascii_text *b, PyObject *sts)
{
    Py_ssize_t i;
    int r;
    for (i = 0; i < PyList_GET_SIZE(sts); i++) {
        PyObject *var, *op, *args;
        int one;
        if (!statement_fields(PyList_GET_ITEM(sts, i), &var, &op, &args) || !PyUnicode_CheckExact(var) ||
            !PyUnicode_CheckExact(op) || !PyUnicode_IS_ASCII(op) || !PyList_CheckExact(args))
            return 0;
        one = one_char(op) == '='; /* describe: "v = a" for '=', "v = a op b" for any other op */
        if (PyList_GET_SIZE(args) < (one ? 1 : 2))
            return 0;
        if ((i && text_put(b, "\n", 1) < 0) || (r = put_obj(b, var)) != 1 || text_put(b, " = ", 3) < 0 ||
            (r = put_obj(b, PyList_GET_ITEM(args, 0))) != 1)
            return PyErr_Occurred() ? -1 : r;
        if (!one && (text_put(b, " ", 1) < 0 || (r = put_obj(b, op)) != 1 || text_put(b, " ", 1) < 0 ||
                     (r = put_obj(b, PyList_GET_ITEM(args, 1))) != 1))
            return PyErr_Occurred() ? -1 : r;
    }
    return 1;
}

/* describe(inst) into b: 1 done, 0 not handled, -1 error. The header and order lines come
   from the Python _frame (one call per new (count, modulus, order)); the fields read are held
   while it runs. */
static int describe_one(PyObject *inst, PyObject *frame, PyObject *question, frame_cache *fc, ascii_text *b)
{
    PyObject *mo, *sts, *query, *order_obj;
    Py_ssize_t n;
    long long m;
    int ok, order, r = 0;
    if (!PyDict_CheckExact(inst) || !str_keys(inst))
        return 0;
    mo = PyDict_GetItemWithError(inst, s_modulus); /* borrowed; str keys only: cannot raise */
    sts = PyDict_GetItemWithError(inst, s_statements);
    query = PyDict_GetItemWithError(inst, s_query);
    order_obj = PyDict_GetItemWithError(inst, s_order);
    order = order_code(order_obj);
    if (mo == NULL || sts == NULL || query == NULL || order < 0 || !PyList_CheckExact(sts) ||
        !PyUnicode_CheckExact(query) || (n = PyList_GET_SIZE(sts)) == 0)
        return 0;
    m = exact_int(mo, LLONG_MIN + 1, LLONG_MAX, &ok);
    if (!ok)
        return 0;
    Py_INCREF(sts);
    Py_INCREF(query);
    if (fc->pair == NULL || fc->count != n || fc->m != m || fc->order != order) {
        PyObject *pair = PyObject_CallFunction(frame, "nOO", n, mo, order_obj);
        r = -1;
        if (pair == NULL)
            goto out;
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            PyErr_SetString(PyExc_TypeError, "_arith_c.describe: frame must return (head, tail)");
            goto out;
        }
        Py_XSETREF(fc->pair, pair);
        fc->count = n, fc->m = m, fc->order = order;
    }
    b->len = 0;
    if ((r = put_obj(b, PyTuple_GET_ITEM(fc->pair, 0))) != 1 || (r = put_statements(b, sts)) != 1 ||
        (r = put_obj(b, question)) != 1 || (r = put_obj(b, query)) != 1 ||
        (r = put_obj(b, PyTuple_GET_ITEM(fc->pair, 1))) != 1)
        r = PyErr_Occurred() ? -1 : r;
out:
    Py_DECREF(sts);
    Py_DECREF(query);
    return r;
}

static PyObject *describe(PyObject *self, PyObject *args)
{
    PyObject *seq, *frame, *question, *items, *out = NULL;
    Py_ssize_t i, n;
    ascii_text b = {NULL, 0, 0};
    frame_cache fc = {0, 0, 0, NULL};
    if (!PyArg_ParseTuple(args, "OOU:describe", &seq, &frame, &question))
        return NULL;
    if ((items = PySequence_Fast(seq, "_arith_c.describe: instances must be a sequence")) == NULL)
        return NULL;
    n = PySequence_Fast_GET_SIZE(items);
    if ((out = PyList_New(n)) == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        PyObject *text;
        int r = describe_one(PySequence_Fast_GET_ITEM(items, i), frame, question, &fc, &b);
        if (r < 0) {
            Py_CLEAR(out);
            goto done;
        }
        if (r == 0) {
            Py_INCREF(Py_None);
            text = Py_None;
        } else {
            if ((text = text_str(&b)) == NULL) {  /* ASCII bytes: a one-byte-kind str */
                Py_CLEAR(out);
                goto done;
            }
        }
        PyList_SET_ITEM(out, i, text);
    }
done:
    Py_DECREF(items);
    Py_XDECREF(fc.pair);
    PyMem_Free(b.data);
    return out;
}

/* ------------------------------------------------------------------------------------------ */

static PyMethodDef methods[] = {
    {"generate", generate, METH_VARARGS, "multihop_arithmetic generate_batch's problems from their int64 draws."},
    {"certify", certify, METH_VARARGS, "multihop_arithmetic certificates, None where Python must decide."},
    {"describe", describe, METH_VARARGS, "multihop_arithmetic statement texts, None where Python must state it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "depthbench.generators._arith_c", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit__arith_c(void)
{
    struct {
        PyObject **slot;
        const char *text;
    } interned[] = {{&s_var, "var"}, {&s_op, "op"}, {&s_args, "args"}, {&s_value, "value"},
                    {&s_modulus, "modulus"}, {&s_statements, "statements"}, {&s_query, "query"},
                    {&s_order, "order"}, {&s_evaluations, "evaluations"}, {&s_integer, "integer"}, {&s_plus, "+"}};
    size_t i;
    for (i = 0; i < sizeof(interned) / sizeof(interned[0]); i++)
        if (*interned[i].slot == NULL && (*interned[i].slot = PyUnicode_InternFromString(interned[i].text)) == NULL)
            return NULL;
    return PyModule_Create(&module);
}
