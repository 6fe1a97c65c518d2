'use strict';

/**
 * Format a number as a currency string using the Intl API.
 * @param {number} amount - The amount to format.
 * @param {string} [currency='TWD'] - ISO 4217 currency code.
 * @param {string} [locale='zh-TW'] - BCP 47 locale tag.
 * @returns {string} The localized currency string.
 */
function formatCurrency(amount, currency = 'TWD', locale = 'zh-TW') {
  if (!Number.isFinite(amount)) {
    throw new TypeError('amount must be a finite number');
  }
  return new Intl.NumberFormat(locale, {
    style: 'currency',
    currency,
  }).format(amount);
}

/**
 * Format a ratio as a percentage, e.g. 0.0215 -> "2.15%".
 * @param {number} ratio - Value where 1 means 100%.
 * @param {number} [digits=2] - Fraction digits to keep.
 * @returns {string}
 */
const formatPercent = (ratio, digits = 2) => {
  const value = (ratio * 100).toFixed(digits);
  return `${value}%`;
};

// Insert a separator every three digits of the integer part.
const groupThousands = (value, separator = ',') => {
  const [intPart, fracPart] = String(value).split('.');
  const sign = intPart.startsWith('-') ? '-' : '';
  const digits = sign ? intPart.slice(1) : intPart;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, separator);
  return sign + grouped + (fracPart !== undefined ? `.${fracPart}` : '');
};

/**
 * Reusable formatter bound to a currency and a number of decimals.
 */
class MoneyFormatter {
  /**
   * @param {string} currency - ISO 4217 code shown as a prefix.
   * @param {number} [decimals=2] - Number of decimals to render.
   */
  constructor(currency, decimals = 2) {
    this.currency = currency;
    this.decimals = decimals;
  }

  /**
   * Render an amount such as "TWD 1,234.50".
   * @param {number} amount
   * @returns {string}
   */
  format(amount) {
    const fixed = Math.abs(amount).toFixed(this.decimals);
    const sign = amount < 0 ? '-' : '';
    return `${sign}${this.currency} ${groupThousands(fixed)}`;
  }

  /**
   * Parse a string produced by {@link MoneyFormatter#format} back into a number.
   * @param {string} text
   * @returns {number} The parsed amount, or NaN if it cannot be read.
   */
  parse(text) {
    const negative = text.trim().startsWith('-');
    const cleaned = text.replace(this.currency, '').replace(/[^0-9.]/g, '');
    const value = cleaned === '' ? NaN : Number(cleaned);
    return negative ? -value : value;
  }
}

module.exports = { formatCurrency, formatPercent, groupThousands, MoneyFormatter };
