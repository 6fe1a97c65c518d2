'use strict';

const TW_LETTER_CODES = {
  A: 10, B: 11, C: 12, D: 13, E: 14, F: 15, G: 16, H: 17, I: 34,
  J: 18, K: 19, L: 20, M: 21, N: 22, O: 35, P: 23, Q: 24, R: 25,
  S: 26, T: 27, U: 28, V: 29, W: 32, X: 30, Y: 31, Z: 33,
};

/**
 * Validate a Taiwan national ID number (e.g. "A123456789") by its checksum.
 * @param {string} id - One letter followed by nine digits.
 * @returns {boolean} True when the format and check digit are valid.
 */
function isValidTaiwanId(id) {
  const match = /^([A-Z])([12]\d{8})$/.exec(String(id).toUpperCase());
  if (!match) return false;
  const code = TW_LETTER_CODES[match[1]];
  const digits = match[2].split('').map(Number);
  const weights = [8, 7, 6, 5, 4, 3, 2, 1, 1];
  let sum = Math.floor(code / 10) + (code % 10) * 9;
  digits.forEach((d, i) => {
    sum += d * weights[i];
  });
  return sum % 10 === 0;
}

/**
 * Compute an arbitrarily long numeric string modulo 97 without BigInt.
 * @param {string} numeric - Decimal digits only.
 * @returns {number}
 */
const mod97 = (numeric) => {
  let remainder = 0;
  for (let i = 0; i < numeric.length; i += 7) {
    remainder = Number(String(remainder) + numeric.slice(i, i + 7)) % 97;
  }
  return remainder;
};

/**
 * Check an IBAN using the ISO 13616 mod-97 algorithm.
 * Spaces are ignored and letters are case-insensitive.
 * @param {string} iban - e.g. "GB82 WEST 1234 5698 7654 32".
 * @returns {boolean}
 */
function isValidIban(iban) {
  const compact = String(iban).replace(/\s+/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$/.test(compact)) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  const numeric = rearranged.replace(/[A-Z]/g, (ch) => String(ch.charCodeAt(0) - 55));
  return mod97(numeric) === 1;
}

// Luhn checksum used by payment card numbers.
const luhnCheck = (cardNumber) => {
  const digits = String(cardNumber).replace(/\D/g, '');
  if (digits.length < 12) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
};

/**
 * Validate a Taiwan unified business number (8 digits).
 * Uses the divisor 5 rule; a 7 in the seventh position allows sum + 1.
 * @param {string} taxId
 * @returns {boolean}
 */
function isValidBusinessNumber(taxId) {
  const digits = String(taxId);
  if (!/^\d{8}$/.test(digits)) return false;
  const weights = [1, 2, 1, 2, 1, 2, 4, 1];
  let sum = 0;
  for (let i = 0; i < 8; i++) {
    const product = Number(digits[i]) * weights[i];
    sum += Math.floor(product / 10) + (product % 10);
  }
  if (sum % 5 === 0) return true;
  return digits[6] === '7' && (sum + 1) % 5 === 0;
}

const isPositiveAmount = (value) => typeof value === 'number' && Number.isFinite(value) && value > 0;

module.exports = { isValidTaiwanId, mod97, isValidIban, luhnCheck, isValidBusinessNumber, isPositiveAmount };
