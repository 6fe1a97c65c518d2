// Package amortize provides loan amortization helpers mirroring finkit.loans.
package amortize

import (
	"errors"
	"math"
)

// Installment is one row of an amortization schedule.
type Installment struct {
	Period    int
	Payment   float64
	Interest  float64
	Principal float64
	Balance   float64
}

// ErrInvalidTerm is returned when the loan term is not positive.
var ErrInvalidTerm = errors.New("amortize: term must be positive")

// MonthlyPayment returns the level monthly payment for a loan of principal
// at the given nominal annual rate over the given number of months.
func MonthlyPayment(principal, annualRate float64, months int) (float64, error) {
	if months <= 0 {
		return 0, ErrInvalidTerm
	}
	r := annualRate / 12
	if r == 0 {
		return principal / float64(months), nil
	}
	factor := math.Pow(1+r, float64(months))
	return principal * r * factor / (factor - 1), nil
}

// Schedule builds the full month-by-month amortization table.
// The final balance is clamped at zero to absorb rounding error.
func Schedule(principal, annualRate float64, months int) ([]Installment, error) {
	payment, err := MonthlyPayment(principal, annualRate, months)
	if err != nil {
		return nil, err
	}
	r := annualRate / 12
	balance := principal
	rows := make([]Installment, 0, months)
	for p := 1; p <= months; p++ {
		interest := balance * r
		paid := payment - interest
		balance = math.Max(balance-paid, 0)
		rows = append(rows, Installment{p, payment, interest, paid, balance})
	}
	return rows, nil
}

// TotalInterest sums the interest portion of every installment.
func TotalInterest(rows []Installment) float64 {
	total := 0.0
	for _, row := range rows {
		total += row.Interest
	}
	return total
}

// RoundCents rounds an amount to two decimal places, half away from zero.
func RoundCents(amount float64) float64 {
	return math.Round(amount*100) / 100
}

// RemainingBalance reports the principal still owed after paidMonths payments.
func RemainingBalance(principal, annualRate float64, months, paidMonths int) (float64, error) {
	payment, err := MonthlyPayment(principal, annualRate, months)
	if err != nil {
		return 0, err
	}
	r := annualRate / 12
	if r == 0 {
		return math.Max(principal-payment*float64(paidMonths), 0), nil
	}
	growth := math.Pow(1+r, float64(paidMonths))
	return math.Max(principal*growth-payment*(growth-1)/r, 0), nil
}
