'use strict';
// Base library version comparison ('2.14.0' style).

function versionAtLeast(version, min) {
  const a = String(version).split('.').map((n) => parseInt(n, 10) || 0);
  const b = String(min).split('.').map((n) => parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    const x = a[i] || 0;
    const y = b[i] || 0;
    if (x !== y) return x > y;
  }
  return true;
}

module.exports = { versionAtLeast };
