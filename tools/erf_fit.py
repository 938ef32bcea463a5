#!/usr/bin/env python3
"""Fits erf(x) ~ x P(x^2) / Q(x^2) on [0, 4] (src/kernels/gelu.h uses the result)."""
import numpy as np
from math import erf
x=np.linspace(0,4,20001); y=np.array([erf(v) for v in x])
# erf(x) ~ x*P(x^2)/Q(x^2), P deg p, Q deg q, Q(0)=1 ; iterate weighted LS (Sanathanan-Koerner)
p,q=5,5
z=x*x; w=np.ones_like(x)
for it in range(30):
    A=np.hstack([ (x[:,None]*z[:,None]**np.arange(p+1)) , -(y[:,None]*z[:,None]**np.arange(1,q+1)) ])
    b=y
    sol,*_=np.linalg.lstsq(A*w[:,None], b*w, rcond=None)
    P=sol[:p+1]; Q=np.concatenate([[1],sol[p+1:]])
    Qv=np.polyval(Q[::-1],z); w=1/np.abs(Qv)
approx=x*np.polyval(P[::-1],z)/np.polyval(Q[::-1],z)
print('max abs err (double)', np.abs(approx-y).max())
# float32 evaluation (Horner)
xf=x.astype(np.float32); zf=xf*xf
Pf=P.astype(np.float32); Qf=Q.astype(np.float32)
def horner(c,t):
    r=np.full_like(t,c[-1])
    for cc in c[-2::-1]: r=r*t+cc
    return r
af=xf*horner(Pf,zf)/horner(Qf,zf)
print('max abs err (float32)', np.abs(af.astype(np.float64)-y).max())
print('P', [float(v) for v in Pf]); print('Q', [float(v) for v in Qf])
