// Every value of a convolution is a float32 sum of K products of numbers in [-1, 1] (K = C*kh*kw
// for the forward, O*kh*kw/s^2 for dx, N*Ho*Wo for dw and db), against a float64 reference.
// Rounding error grows like sqrt(K): the worst seen over test/conv2d.test.ts is 3.2e-6 * sqrt(K)
// (the forward of the 96->96 7x7 layer), so the tolerance is 2e-5 * sqrt(K) absolute plus 1e-5
// relative. Finite differences (central, h = 1e-6, of the float64 forward) are exact to ~1e-8
// there, so the gradients meet the same tolerance against them.
export const convTolerance = (K: number) => ({ atol: 2e-5 * Math.sqrt(K), rtol: 1e-5 });
