/* Compiled fast paths of depthbench.generators (arith_c): optional. Every function here has a
   pure-Python reference in the family's module, which is used when this extension is missing. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyMethodDef methods[] = {
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "depthbench.generators._arith_c", NULL, -1, methods,
};

PyMODINIT_FUNC PyInit__arith_c(void) { return PyModule_Create(&module); }
