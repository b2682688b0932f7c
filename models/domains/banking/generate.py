#!/usr/bin/env python3
"""Generate the bundled banking example data set: train.jsonl, valid.jsonl, test.jsonl.

Run it as ``python models/domains/banking/generate.py``. The output is deterministic (seed 13):
two runs write byte-identical files. Only the standard library and PyYAML are used.

How it works
------------
* Every intent has hand-written templates. ``(a|b|)`` picks one alternative (an empty one is
  allowed), ``{slot}`` is filled from a filler pool below and becomes an entity span,
  ``{type=literal text}`` marks a fixed entity span.
* A filler is either the entity text itself or a ``(before, entity, after)`` triple, so that a
  preposition such as "on" in "on the 3rd" stays outside the ``date`` span.
* Every rendered utterance gets a surface style (plain, sentence case, lower case, voice-style
  run-on with fillers, polite, rude/shouting), sometimes a typo in a non-entity word, curly
  apostrophes or an emoji. Entity offsets are recomputed from segments after every change, so
  they always cover exactly the entity text.
* Utterances are deduplicated case- and punctuation-insensitively, then split per intent
  (stratified, seeded): 10 test, 10 valid, the rest train. Out-of-scope lines go to valid and
  test only, half each, stratified by category.
* Account and card fillers are checked against the catalog synonyms in domain.yaml (except a few
  deliberate misspellings), and every entity type an intent uses must be one of its ``slots``.
* Account, card, amount, date, email and phone spans carry their gold canonical ``value`` from
  the hand-written tables below (never from the resolver): what ``intentd eval`` scores
  resolution accuracy against. Dates are relative to domain.yaml's ``evaluation.reference_time``.
"""

from __future__ import annotations

import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SEED = 13
PER_INTENT = 72  # distinct utterances generated per intent (before the split)
# a yes, a no, a pause: short replies said in many more ways than a request, each of which decides
# a pending action (72 taught the example model "cancel it" but not "yes please block it")
PER_REPLY_INTENT = 120
N_VALID = 10
N_TEST = 10
TYPO_RATE = 0.14  # applied to non-voice utterances; about 12% of all utterances get a typo
ENTITY_TYPO_RATE = 0.04  # a misspelled account/card synonym (exercises fuzzy matching)

# --------------------------------------------------------------------------------------------
# Filler pools. A filler is "entity text" or (before, entity text, after).
# --------------------------------------------------------------------------------------------

# "my {account}": short or long forms.
ACCOUNT = [
    "checking", "checking account", "chequing", "chequing account", "current account",
    "everyday account", "main account", "spending account",
    "savings", "savings account", "saving account", "savings acct", "high yield savings",
    "high-yield savings account",
    "credit card account", "credit account",
    "money market", "money market account", "mma",
    "joint account", "joint checking", "shared account",
    "business account", "business checking", "company account",
    "cd", "certificate of deposit", "term deposit",
    "ira", "roth ira", "retirement account",
    "student account", "student checking",
]
# The most common ones again, so they dominate as they do in real traffic.
ACCOUNT += ["checking", "savings", "checking", "savings", "savings account", "checking account",
            "credit card account", "joint account", "business account", "money market account"]
ACCOUNT_TYPOS = ["savngs", "chekcing", "chequeing", "savings acount", "checkin", "savigns",
                 "cheking account", "joint acount", "busness account", "money markt"]

# "a {account_n}": full noun phrases that do not start with a vowel sound.
ACCOUNT_N = [
    "checking account", "chequing account", "current account", "savings account",
    "high-yield savings account", "money market account", "joint account", "joint checking",
    "business account", "business checking", "certificate of deposit", "cd", "term deposit",
    "roth ira", "retirement account", "student account", "student checking", "savings account",
    "checking account", "savings account",
]
ACCOUNT_N_TYPOS = ["savings acount", "checking acount", "chequeing account", "joint acount"]

CARD = [
    "debit card", "debit", "atm card", "bank card", "check card", "visa debit",
    "credit card", "rewards card", "cashback card",
    "visa", "visa card", "mastercard", "master card", "mastercard credit card",
    "virtual card", "digital card", "online card", "virtual debit card",
    "corporate card", "company card", "business credit card",
    "prepaid card", "travel card",
]
CARD += ["debit card", "credit card", "debit card", "credit card", "visa", "mastercard",
         "debit card", "credit card"]
CARD_TYPOS = ["debit crad", "dbit card", "credit crd", "mastercad", "viza card", "cedit card",
              "debitcard"]
# Cards that carry a credit limit.
CREDIT_CARD = ["credit card", "rewards card", "cashback card", "visa", "visa card", "mastercard",
               "master card", "mastercard credit card", "corporate card", "business credit card",
               "credit card", "credit card", "visa", "mastercard"]

AMOUNT = [
    "$250", "$1,200", "$45.99", "$5", "$20", "$3,000", "$75.50", "$19.99", "$12.75", "$400",
    "$60", "$1,000", "$85", "$2,500.00", "$150",
    "250 dollars", "40 dollars", "1000 dollars", "a hundred dollars", "twenty dollars",
    "five hundred dollars", "300 dollars", "sixty dollars",
    "two hundred bucks", "fifty bucks", "80 bucks", "15 bucks", "a hundred bucks",
    "€40.50", "€200", "100 euros", "€1.200,00", "35 euros",
    "fifty quid", "£75", "£1,000", "20 quid",
    "1,200.00 USD", "USD 500", "500 USD", "CAD 300", "¥10,000",
    "$5k", "2 grand", "five grand", "350", "1500",
]
AMOUNT_BIG = [
    "$20,000", "$250k", "300,000 dollars", "15 grand", "$350,000", "$15,000", "$5,000",
    "$10k", "7500 dollars", "$2,000", "$25,000", "fifty thousand dollars", "$8,500",
    "€30,000", "£12,000", "$400,000", "ten grand", "$1,500", "3000 dollars", "$12k",
]

# Adverbial future dates: "pay it {date_fut}".
DATE_FUT = [
    "tomorrow", "next friday", ("on ", "the 3rd", ""), ("on ", "March 5", ""),
    ("on ", "2026-12-04", ""), "in two weeks", ("by ", "the end of the month", ""),
    ("at ", "3pm tomorrow", ""), "next week", "this friday", ("on ", "monday", ""), "tonight",
    ("on ", "the 15th", ""), "next month", ("on ", "June 1st", ""), "in 3 days",
    ("on ", "12/20", ""), "tomorrow morning", "this weekend", ("on ", "Dec 1", ""),
    "next tuesday", ("on ", "the first of the month", ""), "the day after tomorrow",
    ("on ", "1 April", ""), "in a month", ("on ", "July 4th", ""), ("at ", "noon on friday", ""),
    ("before ", "the 25th", ""), ("on ", "28/02/2027", ""), "next thursday",
]
# Adverbial past dates: "I was charged {date_past}".
DATE_PAST = [
    "yesterday", "last week", ("on ", "March 2", ""), "last month", "two days ago",
    ("on ", "the 12th", ""), "this morning", ("on ", "monday", ""), "last friday", "a week ago",
    ("on ", "2026-01-15", ""), "earlier today", ("on ", "Jan 3rd", ""),
    ("over ", "the weekend", ""), "last night", ("on ", "9/14", ""), "three weeks ago",
    ("on ", "the 2nd", ""), "last tuesday", ("on ", "Feb 20", ""), "10 days ago",
]
# Noun-phrase dates: "for {date_n}", "from {date_n} to {date_n}".
DATE_N = [
    "the 1st", "the 15th", "June 3", "March 5", "next monday", "friday", "2026-12-04", "12/20",
    "the end of the month", "the 28th", "Dec 10", "August 2nd", "15 September", "the 3rd",
    "next friday", "tomorrow", "May 30", "the 10th", "Oct 12", "2027-01-08", "the 5th",
]
# Noun-phrase past dates: "since {date_np}".
DATE_NP = [
    "last monday", "March 1", "the 1st", "January", "last month", "the start of the month",
    "2026-02-01", "yesterday", "Feb 14", "last week", "the 10th", "september", "Nov 3",
    "last friday", "the beginning of the year",
]
DATE_BRANCH = [
    "today", "tomorrow", ("on ", "saturday", ""), "this sunday", ("on ", "Christmas Eve", ""),
    ("on ", "new year’s day", ""), "this weekend", "tonight", ("on ", "Memorial Day", ""),
    ("on ", "friday", ""), "next monday", ("on ", "Good Friday", ""), ("at ", "8am tomorrow", ""),
    ("on ", "the 4th of July", ""), ("on ", "thanksgiving", ""), ("on ", "sundays", ""),
    "this saturday", ("on ", "Dec 26", ""), "right now",
]

MERCHANT = [
    "amazon", "Amazon", "starbucks", "Starbucks", "Whole Foods", "uber", "Uber", "Uber Eats",
    "netflix", "Netflix", "Spotify", "Walmart", "Target", "Costco", "Apple", "Airbnb", "Lyft",
    "DoorDash", "Best Buy", "Home Depot", "eBay", "PayPal", "Shell", "Chipotle", "McDonald's",
    "McDonald’s", "Trader Joe's", "Delta", "Hulu", "IKEA", "Sephora", "Etsy", "Zara",
    "Café Luna", "Nespresso", "Ticketmaster", "Expedia", "Adobe", "the Gap", "Walgreens",
    "CVS", "Instacart", "Grubhub", "Peloton", "Crème de la Crème Bakery",
]
BILLER = [
    "Comcast", "Verizon", "AT&T", "PG&E", "Con Edison", "Xfinity", "T-Mobile", "Spectrum",
    "Geico", "State Farm", "netflix", "Spotify", "Duke Energy", "water company", "National Grid",
    "comcast", "verizon", "Planet Fitness", "Sallie Mae", "Progressive", "Hulu", "Sprint",
    "Cox", "Dominion Energy", "American Water",
]
CITY_LOCAL = [
    "boston", "Boston", "Chicago", "new york", "NYC", "Seattle", "Austin", "Denver",
    "San Francisco", "Miami", "Brooklyn", "Oakland", "Cambridge", "Portland", "San José",
    "Albuquerque", "St. Louis", "Winston-Salem", "Coeur d’Alene", "Santa Fe", "Honolulu",
    "Philadelphia", "philly", "LA", "Los Angeles", "Sacramento", "Phoenix", "Atlanta",
    "Nashville", "Pittsburgh", "Minneapolis", "Dallas", "chicago", "seattle", "Houston",
]
CITY_TRAVEL = [
    "Paris", "paris", "São Paulo", "Zürich", "tokyo", "Tokyo", "London", "london", "Berlin",
    "Madrid", "Lisbon", "Mexico City", "Toronto", "Montréal", "Cancún", "Rome", "Bogotá",
    "Reykjavík", "Kraków", "Dublin", "Sydney", "Bangkok", "Seoul", "Düsseldorf", "Málaga",
    "Québec City", "Barcelona", "Amsterdam", "Prague", "Istanbul", "Marrakech", "Kyoto",
    "Hanoi", "Buenos Aires", "Cape Town", "Vancouver", "Las Vegas", "New Orleans", "Orlando",
    "cancun", "Zurich",
]
EMAIL = [
    "jane.doe@gmail.com", "m.rossi@outlook.com", "carlos_ruiz88@yahoo.com", "pat@smithfamily.net",
    "a.nguyen@protonmail.com", "sam.k@icloud.com", "olivia.brown+bank@gmail.com",
    "dev.patel@company.co.uk", "lee.min@hotmail.com", "TomH@Work.com", "ana-maria.lopez@mail.com",
    "jwilson1972@aol.com", "chris.obrien@fastmail.fm", "kofi.mensah@gmail.com",
    "rachel.g@berkeley.edu", "nico.schmidt@web.de", "priya.s@live.com", "ben@benharper.io",
    "marta.kowalska@wp.pl", "hello@tinybakery.shop",
]
EMAIL_PHISH = [
    "support@secure-bank-verify.com", "alerts@acc0unt-check.net", "noreply@paypa1-security.com",
    "security@onlinebank-update.info", "billing@refund-center.co", "verify@card-services-help.com",
]
PHONE = [
    "+1 415 555 0134", "(617) 555-0199", "555 0100", "617-555-0142", "415.555.0187",
    "+44 20 7946 0958", "6175550123", "+1 (212) 555-0175", "555-0123", "(303) 555 0111",
    "+33 1 23 45 67 89", "857 555 0163", "+1-646-555-0108", "0161 496 0000", "720-555-0190",
    "(512) 555-0147", "+1 312 555 0116", "555.0182", "+49 30 5550 1234", "206 555 0129",
]
PHONE_SCAM = [
    "+1 800 555 0199", "(888) 555-0142", "202-555-0177", "+1 (877) 555 0103", "555-0166",
]

POOLS: dict[str, tuple[str, list]] = {
    "account": ("account", ACCOUNT),
    "account_n": ("account", ACCOUNT_N),
    "card": ("card", CARD),
    "ccard": ("card", CREDIT_CARD),
    "amount": ("amount", AMOUNT),
    "amount_big": ("amount", AMOUNT_BIG),
    "date_fut": ("date", DATE_FUT),
    "date_past": ("date", DATE_PAST),
    "date_n": ("date", DATE_N),
    "date_np": ("date", DATE_NP),
    "date_branch": ("date", DATE_BRANCH),
    "merchant": ("merchant", MERCHANT),
    "biller": ("merchant", BILLER),
    "city": ("city", CITY_LOCAL),
    "city_t": ("city", CITY_TRAVEL),
    "email": ("email", EMAIL),
    "email_phish": ("email", EMAIL_PHISH),
    "phone": ("phone", PHONE),
    "phone_scam": ("phone", PHONE_SCAM),
}
TYPO_POOLS = {"account": ACCOUNT_TYPOS, "account_n": ACCOUNT_N_TYPOS, "card": CARD_TYPOS,
              "ccard": ["credit crd", "cedit card", "mastercad", "viza"]}

# --------------------------------------------------------------------------------------------
# Gold canonical values: a span's "value", in the form server/respond.py `canonical` (and
# `slots_used`) returns. `intentd eval` compares the resolver's value on the gold span with it.
# Written by hand, never by calling the resolver (that would make the metric circular).
# Catalog ids come from domain.yaml (the catalog is the definition), misspellings from the table
# below; merchant and city are free text and carry no value; a phone number that cannot be
# resolved (no area code, another country's national format) carries none either.
# --------------------------------------------------------------------------------------------

# Relative dates are relative to this instant (domain.yaml `evaluation`, a Sunday at noon in New
# York). Offsets: EST (-05:00) until 2027-03-14, EDT (-04:00) from then; 2026-11-01 00:00 and
# everything before 2026-11-01 02:00 back to 2026-03-08 is still EDT.
REFERENCE_TIME = "2026-11-29T12:00:00-05:00"
TIME_ZONE = "America/New_York"
EST, EDT = "-05:00", "-04:00"


def day(date: str, offset: str) -> str:
    return f"{date}T00:00:00{offset}"


def at(date: str, clock: str, offset: str) -> str:
    return f"{date}T{clock}:00{offset}"


CATALOG_TYPOS = {
    "account": {"savngs": "savings", "chekcing": "checking", "chequeing": "checking",
                "savings acount": "savings", "checkin": "checking", "savigns": "savings",
                "cheking account": "checking", "joint acount": "joint", "busness account": "business",
                "money markt": "money_market", "checking acount": "checking",
                "chequeing account": "checking"},
    "card": {"debit crad": "debit_card", "dbit card": "debit_card", "credit crd": "credit_card",
             "mastercad": "mastercard", "viza card": "visa_card", "cedit card": "credit_card",
             "debitcard": "debit_card", "viza": "visa_card"},
}

# Money: amount as a plain decimal string with the written scale ("40.50", "2500.00"; "$5k" is
# "5000"), then the ISO 4217 code; no currency named -> the domain's default, USD.
MONEY = {
    "$250": "250 USD", "$1,200": "1200 USD", "$45.99": "45.99 USD", "$5": "5 USD", "$20": "20 USD",
    "$3,000": "3000 USD", "$75.50": "75.50 USD", "$19.99": "19.99 USD", "$12.75": "12.75 USD",
    "$400": "400 USD", "$60": "60 USD", "$1,000": "1000 USD", "$85": "85 USD",
    "$2,500.00": "2500.00 USD", "$150": "150 USD",
    "250 dollars": "250 USD", "40 dollars": "40 USD", "1000 dollars": "1000 USD",
    "a hundred dollars": "100 USD", "twenty dollars": "20 USD", "five hundred dollars": "500 USD",
    "300 dollars": "300 USD", "sixty dollars": "60 USD",
    "two hundred bucks": "200 USD", "fifty bucks": "50 USD", "80 bucks": "80 USD", "15 bucks": "15 USD",
    "a hundred bucks": "100 USD",
    "€40.50": "40.50 EUR", "€200": "200 EUR", "100 euros": "100 EUR", "€1.200,00": "1200.00 EUR",
    "35 euros": "35 EUR",
    "fifty quid": "50 GBP", "£75": "75 GBP", "£1,000": "1000 GBP", "20 quid": "20 GBP",
    "1,200.00 USD": "1200.00 USD", "USD 500": "500 USD", "500 USD": "500 USD", "CAD 300": "300 CAD",
    "¥10,000": "10000 JPY",
    "$5k": "5000 USD", "2 grand": "2000 USD", "five grand": "5000 USD", "350": "350 USD",
    "1500": "1500 USD",
    # AMOUNT_BIG
    "$20,000": "20000 USD", "$250k": "250000 USD", "300,000 dollars": "300000 USD",
    "15 grand": "15000 USD", "$350,000": "350000 USD", "$15,000": "15000 USD", "$5,000": "5000 USD",
    "$10k": "10000 USD", "7500 dollars": "7500 USD", "$2,000": "2000 USD", "$25,000": "25000 USD",
    "fifty thousand dollars": "50000 USD", "$8,500": "8500 USD", "€30,000": "30000 EUR",
    "£12,000": "12000 GBP", "$400,000": "400000 USD", "ten grand": "10000 USD", "$1,500": "1500 USD",
    "3000 dollars": "3000 USD", "$12k": "12000 USD",
}

# Dates, per pool: what the phrase means where the templates put it, relative to REFERENCE_TIME
# (Sunday 2026-11-29 12:00 New York). Day-grain values are midnight; "morning" is 09:00 and
# "tonight"/"night" 20:00; "next week" is its Monday; "friday"/"this friday" is the next one on or
# after today, "next friday" the first one after today. Future pools: a year-less date is the
# next one. Past pools ("I was charged on the 12th", "since March 1"): the most recent one.
DATES: dict[str, dict[str, str]] = {
    "date_fut": {
        "tomorrow": day("2026-11-30", EST), "next friday": day("2026-12-04", EST),
        "the 3rd": day("2026-12-03", EST), "March 5": day("2027-03-05", EST),
        "2026-12-04": day("2026-12-04", EST), "in two weeks": day("2026-12-13", EST),
        "the end of the month": day("2026-11-30", EST), "3pm tomorrow": at("2026-11-30", "15:00", EST),
        "next week": day("2026-11-30", EST), "this friday": day("2026-12-04", EST),
        "monday": day("2026-11-30", EST), "tonight": at("2026-11-29", "20:00", EST),
        "the 15th": day("2026-12-15", EST), "next month": day("2026-12-01", EST),
        "June 1st": day("2027-06-01", EDT), "in 3 days": day("2026-12-02", EST),
        "12/20": day("2026-12-20", EST), "tomorrow morning": at("2026-11-30", "09:00", EST),
        "this weekend": day("2026-11-29", EST), "Dec 1": day("2026-12-01", EST),
        "next tuesday": day("2026-12-01", EST), "the first of the month": day("2026-12-01", EST),
        "the day after tomorrow": day("2026-12-01", EST), "1 April": day("2027-04-01", EDT),
        "in a month": day("2026-12-29", EST), "July 4th": day("2027-07-04", EDT),
        "noon on friday": at("2026-12-04", "12:00", EST), "the 25th": day("2026-12-25", EST),
        "28/02/2027": day("2027-02-28", EST), "next thursday": day("2026-12-03", EST),
    },
    "date_past": {
        "yesterday": day("2026-11-28", EST), "last week": day("2026-11-16", EST),
        "March 2": day("2026-03-02", EST), "last month": day("2026-10-01", EDT),
        "two days ago": day("2026-11-27", EST), "the 12th": day("2026-11-12", EST),
        "this morning": at("2026-11-29", "09:00", EST), "monday": day("2026-11-23", EST),
        "last friday": day("2026-11-27", EST), "a week ago": day("2026-11-22", EST),
        "2026-01-15": day("2026-01-15", EST), "earlier today": day("2026-11-29", EST),
        "Jan 3rd": day("2026-01-03", EST), "the weekend": day("2026-11-28", EST),
        "last night": at("2026-11-28", "20:00", EST), "9/14": day("2026-09-14", EDT),
        "three weeks ago": day("2026-11-08", EST), "the 2nd": day("2026-11-02", EST),
        "last tuesday": day("2026-11-24", EST), "Feb 20": day("2026-02-20", EST),
        "10 days ago": day("2026-11-19", EST),
    },
    "date_n": {
        "the 1st": day("2026-12-01", EST), "the 15th": day("2026-12-15", EST),
        "June 3": day("2027-06-03", EDT), "March 5": day("2027-03-05", EST),
        "next monday": day("2026-11-30", EST), "friday": day("2026-12-04", EST),
        "2026-12-04": day("2026-12-04", EST), "12/20": day("2026-12-20", EST),
        "the end of the month": day("2026-11-30", EST), "the 28th": day("2026-12-28", EST),
        "Dec 10": day("2026-12-10", EST), "August 2nd": day("2027-08-02", EDT),
        "15 September": day("2027-09-15", EDT), "the 3rd": day("2026-12-03", EST),
        "next friday": day("2026-12-04", EST), "tomorrow": day("2026-11-30", EST),
        "May 30": day("2027-05-30", EDT), "the 10th": day("2026-12-10", EST),
        "Oct 12": day("2027-10-12", EDT), "2027-01-08": day("2027-01-08", EST),
        "the 5th": day("2026-12-05", EST),
    },
    "date_np": {
        "last monday": day("2026-11-23", EST), "March 1": day("2026-03-01", EST),
        "the 1st": day("2026-11-01", EDT), "January": day("2026-01-01", EST),
        "last month": day("2026-10-01", EDT), "the start of the month": day("2026-11-01", EDT),
        "2026-02-01": day("2026-02-01", EST), "yesterday": day("2026-11-28", EST),
        "Feb 14": day("2026-02-14", EST), "last week": day("2026-11-16", EST),
        "the 10th": day("2026-11-10", EST), "september": day("2026-09-01", EDT),
        "Nov 3": day("2026-11-03", EST), "last friday": day("2026-11-27", EST),
        "the beginning of the year": day("2026-01-01", EST),
    },
    "date_branch": {
        "today": day("2026-11-29", EST), "tomorrow": day("2026-11-30", EST),
        "saturday": day("2026-12-05", EST), "this sunday": day("2026-11-29", EST),
        "Christmas Eve": day("2026-12-24", EST), "new year’s day": day("2027-01-01", EST),
        "this weekend": day("2026-11-29", EST), "tonight": at("2026-11-29", "20:00", EST),
        "Memorial Day": day("2027-05-31", EDT), "friday": day("2026-12-04", EST),
        "next monday": day("2026-11-30", EST), "Good Friday": day("2027-03-26", EDT),
        "8am tomorrow": at("2026-11-30", "08:00", EST), "the 4th of July": day("2027-07-04", EDT),
        "thanksgiving": day("2027-11-25", EST), "sundays": day("2026-11-29", EST),
        "this saturday": day("2026-12-05", EST), "Dec 26": day("2026-12-26", EST),
        "right now": at("2026-11-29", "12:00", EST),
    },
}
# `date_n` in a past context (PAST_CONTEXT_TEMPLATES): year-less dates are the most recent one;
# phrases that name their own direction ("next friday", "tomorrow", an ISO date) keep it.
DATES["date_n_past"] = {
    "the 1st": day("2026-11-01", EDT), "the 15th": day("2026-11-15", EST),
    "June 3": day("2026-06-03", EDT), "March 5": day("2026-03-05", EST),
    "next monday": day("2026-11-30", EST), "friday": day("2026-11-27", EST),
    "2026-12-04": day("2026-12-04", EST), "12/20": day("2025-12-20", EST),
    "the end of the month": day("2026-10-31", EDT), "the 28th": day("2026-11-28", EST),
    "Dec 10": day("2025-12-10", EST), "August 2nd": day("2026-08-02", EDT),
    "15 September": day("2026-09-15", EDT), "the 3rd": day("2026-11-03", EST),
    "next friday": day("2026-12-04", EST), "tomorrow": day("2026-11-30", EST),
    "May 30": day("2026-05-30", EDT), "the 10th": day("2026-11-10", EST),
    "Oct 12": day("2026-10-12", EDT), "2027-01-08": day("2027-01-08", EST),
    "the 5th": day("2026-11-05", EST),
}
# Templates whose {date_n} is in the past (a disputed charge, a range of past transactions).
PAST_CONTEXT_TEMPLATES = {
    "the {merchant} charge from {date_n} is incorrect",
    "see transactions from {date_np} to {date_n}",
}
DATES["date"] = DATES["date_fut"]  # {date=...} literals (out-of-scope lines: "tomorrow", "next week")

# E.164 with the domain's default region (US); None: not a number a bank can dial as written.
PHONE_E164 = {
    "+1 415 555 0134": "+14155550134", "(617) 555-0199": "+16175550199", "555 0100": None,
    "617-555-0142": "+16175550142", "415.555.0187": "+14155550187", "+44 20 7946 0958": "+442079460958",
    "6175550123": "+16175550123", "+1 (212) 555-0175": "+12125550175", "555-0123": None,
    "(303) 555 0111": "+13035550111", "+33 1 23 45 67 89": "+33123456789",
    "857 555 0163": "+18575550163", "+1-646-555-0108": "+16465550108",
    "0161 496 0000": None,  # a UK national number: without +44 it is not valid in the US region
    "720-555-0190": "+17205550190", "(512) 555-0147": "+15125550147", "+1 312 555 0116": "+13125550116",
    "555.0182": None, "+49 30 5550 1234": "+493055501234", "206 555 0129": "+12065550129",
    # PHONE_SCAM
    "+1 800 555 0199": "+18005550199", "(888) 555-0142": "+18885550142", "202-555-0177": "+12025550177",
    "+1 (877) 555 0103": "+18775550103", "555-0166": None,
}


def email_value(text: str) -> str:
    """An address as written, domain lower-cased (the local part is case-sensitive, RFC 5321)."""
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


EMAIL_FROM_TEXT = "<email: from the final span text>"  # the surface style may change its case

# --------------------------------------------------------------------------------------------
# Templates
# --------------------------------------------------------------------------------------------

TEMPLATES: dict[str, list[str]] = {
    "check_balance": [
        "what's my {account} balance",
        "how much (money |)(is in|do I have in|is left in) my {account}",
        "balance?",
        "(check|show me|pull up) my {account} balance",
        "what is the balance (on|of|in) my {account}",
        "how much have I got (left |)in (my |the |){account}",
        "can you tell me how much is in my {account} (right now|at the moment|)",
        "I need to know my current balance",
        "(balance|available balance) for (my |){account} please",
        "{account} balance",
        "do I have enough in my {account} to cover rent",
        "am I overdrawn on my {account}",
        "how much cash is (left |sitting )in the {account}",
        "what's left in my {account} after the last paycheck",
        "give me the available balance on my {account}",
        "how much money do I have",
        "what's my balance looking like",
        "could you check the funds in my {account}",
        "is there any money left in (my |){account}",
        "what are my {account} and {account} balances",
        "what do I have in (my |){account}",
        "available funds in my {account}?",
        "how broke am I right now",
        "my {account} balance (please|pls|)",
        "I want to see how much is in my {account} before I go shopping",
        "how much can I spend from my {account}",
        "whats the total in my {account}",
    ],
    "transfer_money": [
        "transfer {amount} (from (my |){account} |)to (my |){account}",
        "move {amount} from my {account} to my {account}",
        "send {amount} to my {account}",
        "I want to (move|transfer) (some |)money (over |)to (my |){account}",
        "put {amount} (into|in) my {account}",
        "can you shift {amount} from {account} (into|to) {account}",
        "transfer money between my accounts",
        "send {amount} to my (brother|mom|landlord|roommate|sister)",
        "wire {amount} to (my landlord|my dad|a friend overseas)",
        "I need to send money to a friend",
        "move {amount} to (my |){account} {date_fut}",
        "transfer {amount} to my {account} {date_fut}",
        "can I transfer funds from {account} to {account}",
        "make a transfer of {amount}",
        "zelle {amount} to (my sister|Alex|my cousin)",
        "top up my {account} with {amount} from (my |){account}",
        "how do I transfer money to someone else's account",
        "I'd like to move some funds into (my |){account}",
        "internal transfer of {amount} to {account} please",
        "drop {amount} into my {account}",
        "so I need to move some money over to {account}",
        "transfer everything from {account} to {account}",
        "please send {amount} from my {account} to (John|Maria|my son)",
        "can I move {amount} out of (my |){account}",
        "I wanna transfer cash to my {account}",
    ],
    "pay_bill": [
        "pay my {biller} bill",
        "pay {amount} (to|towards) {biller}",
        "I want to pay my (electric|phone|internet|water|gas|cable) bill",
        "pay the {biller} bill (from|out of|with) my {account}",
        "pay {biller} {amount} (right away|now)",
        "can you pay my {biller} invoice",
        "settle my {biller} bill",
        "pay (off |)my {ccard} bill",
        "make a payment to {biller}",
        "I need to pay {amount} on my {biller} account",
        "pay the full statement balance on my {ccard}",
        "bill pay for {biller} (please|)",
        "use my {account} to pay {biller}",
        "(I'd like to|let me) pay a bill",
        "pay {amount} to {biller} from (my |){account}",
        "how do I pay my {biller} bill through the app",
        "send a payment of {amount} to {biller}",
        "pay the minimum (payment |)on my {ccard}",
        "pay my rent (of {amount} |)now",
        "I got my {biller} bill, can you pay it",
        "pay this month's {biller} bill with my {card}",
        "can I pay my {biller} bill here",
        "cover the {amount} {biller} bill from (my |){account}",
    ],
    "schedule_payment": [
        "schedule a payment of {amount} to {biller} {date_fut}",
        "set up (a |)(recurring|automatic|monthly) payment (to|for) {biller}",
        "set up autopay for my {biller} bill",
        "pay {biller} {amount} {date_fut}",
        "can I schedule my {biller} bill for {date_n}",
        "I want {amount} to go to {biller} every month on {date_n}",
        "schedule {amount} for {biller} on {date_n}",
        "make my {ccard} payment automatic",
        "set a future payment of {amount} {date_fut}",
        "schedule (my |the |)rent payment of {amount} for {date_n}",
        "can you line up a payment to {biller} for {date_n}",
        "I'd like to postdate a payment to {biller}",
        "automatically pay {biller} {amount} each month",
        "book a payment to {biller} {date_fut} from my {account}",
        "set up a standing order of {amount} to {biller}",
        "queue up a {amount} payment {date_fut}",
        "schedule a bill payment",
        "plan a payment of {amount} to go out {date_fut}",
        "put my {biller} bill on autopay",
        "turn on automatic payments for my {ccard}",
        "schedule {amount} to {biller} (every friday|each month|every two weeks) starting {date_n}",
        "I want to pay {biller} later, (on {date_n}|{date_fut})",
        "set my {biller} payment to go out automatically on {date_n}",
    ],
    "report_lost_card": [
        "I lost my {card}",
        "my {card} (is|has gone) missing",
        "I can't find my {card} anywhere",
        "lost card",
        "someone stole my wallet( with my {card} in it|)",
        "my {card} was stolen",
        "I think I left my {card} at (the restaurant|a bar|the gym|the gas station)",
        "report a (lost|stolen) {card}",
        "my (purse|bag|backpack) got stolen and my {card} was in it",
        "I misplaced my {card}",
        "I dropped my {card} somewhere in {city}",
        "how do I report my {card} (lost|stolen)",
        "my {card} was taken (out of my bag|from my car)",
        "haven't seen my {card} since {date_np}",
        "I've lost my {card}, what do I do",
        "help, my {card} is gone",
        "got pickpocketed in {city_t}, they took my {card}",
        "I left my {card} in a taxi {date_past}",
        "lost my wallet {date_past}",
        "can't find my card, I think it fell out of my pocket",
        "my {card} got stolen {date_past}",
        "i've misplaced my wallet and all my cards",
        "stolen card",
        "lost my {card} on the train",
    ],
    "block_card": [
        "block my {card}",
        "freeze my {card} (please|right now|)",
        "lock my {card}",
        "(temporarily |)(disable|deactivate) my {card}",
        "put a hold on my {card}",
        "can you stop all payments on my {card}",
        "pause my {card} for a while",
        "I want to freeze (the|my) card",
        "turn off my {card}",
        "block card",
        "how do I lock my {card} in the app",
        "suspend my {card} until I say otherwise",
        "stop my {card} from working",
        "freeze card ending in (4821|0093|7712)",
        "I need to block the {card} ending in (0417|5530)",
        "lock down my {card} immediately",
        "put my {card} on ice",
        "can I temporarily lock my {card} while I look for it at home",
        "disable online purchases on my {card}",
        "block all transactions on (my |the |){card}",
        "please put a freeze on my {card}",
        "I want my {card} blocked",
        "switch off my {card} for now",
    ],
    "activate_card": [
        "activate my (new |){card}",
        "I just got my new {card}, how do I activate it",
        "(how|where) do I activate (a|my) card",
        "my new {card} arrived in the mail, (can you turn it on|how do I start using it)",
        "card activation",
        "my {card} isn't activated yet",
        "the {card} you sent me needs activating",
        "can't activate my {card}",
        "activate card ending in (3390|1184|6021)",
        "start using my new {card}",
        "I received (a new|my replacement) {card} and want to activate it",
        "enable my new {card}",
        "is my {card} active yet",
        "please activate the replacement {card}",
        "the activation code for my {card} isn't working",
        "how do I get my new {card} working",
        "turn on my new {card}",
        "I need to activate a card I got in the mail",
        "activation for my {card} please",
        "my {card} says inactive when I try to pay",
        "get my new card activated",
        "can you activate this {card} for me",
    ],
    "replace_card": [
        "I need a new {card}",
        "replace my {card}",
        "my {card} is (damaged|broken|cracked|bent|worn out)",
        "the chip on my {card} stopped working",
        "my {card} (expires|is expiring) {date_fut}, (send me a new one|I need a new one)",
        "order a replacement {card}",
        "can you send me a new {card}",
        "the magnetic strip on my {card} is worn out",
        "my {card} snapped in half",
        "request a new card",
        "my {card} got chewed up by the dog",
        "the {card} isn't being read at (terminals|the register) anymore",
        "get me a replacement for my expired {card}",
        "card replacement please",
        "my name is misspelled on my {card}, please reissue it",
        "reissue my {card}",
        "when will my replacement {card} arrive",
        "my {card} went through the washing machine and doesn't work now",
        "i need a replacement card, mine is falling apart",
        "can I get a new {card} with my new last name",
        "the numbers on my {card} have rubbed off",
        "send a new {card} to my address",
        "my {card} melted in the car",
    ],
    "change_pin": [
        "change my pin",
        "I want to change the pin (on|for) my {card}",
        "reset my {card} pin",
        "I forgot my pin",
        "how do I set a new pin for my {card}",
        "update my {card} PIN (number|)",
        "pin change",
        "my pin is locked after too many tries",
        "can I pick a different pin for my {card}",
        "I'd like a new pin for my {card}",
        "how can I change my atm pin",
        "remind me (of|what) my {card} pin (is|)",
        "I entered the wrong pin 3 times and now it won't let me in",
        "need to change the four digit code on my {card}",
        "set up a pin for my new {card}",
        "my pin isn't working at the atm",
        "recover my {card} pin",
        "forgot the pin for my {card}",
        "choose a new pin",
        "pin reset (please|for my {card})",
        "I think someone saw my pin, I want to change it",
        "can I change my pin online or do I need to go to a branch",
    ],
    "dispute_transaction": [
        "I want to dispute a charge from {merchant}",
        "{merchant} charged me twice",
        "I was double charged at {merchant} {date_past}",
        "dispute the {amount} charge on my {card}",
        "{merchant} charged me {amount} but it should have been {amount}",
        "I never received my order from {merchant} but I was charged",
        "there's a wrong amount on my {merchant} purchase",
        "I cancelled my {merchant} subscription but they still charged me {amount}",
        "how do I contest a transaction",
        "I'd like to file a chargeback against {merchant}",
        "the {merchant} charge from {date_n} is incorrect",
        "I was charged {amount} for something I returned to {merchant}",
        "raise a dispute for the {merchant} payment",
        "{merchant} overcharged me by {amount}",
        "dispute transaction",
        "the hotel in {city_t} charged me twice",
        "I got charged for my {merchant} (ride|order) even though I cancelled it",
        "I disagree with a charge on my {card} statement",
        "{merchant} billed me {amount} instead of {amount} {date_past}",
        "the merchant never delivered and I want my money back from {merchant}",
        "challenge a charge of {amount}",
        "I paid {merchant} with my {card} and got charged again {date_past}",
        "open a dispute on a duplicate charge",
    ],
    "recent_transactions": [
        "show my recent transactions",
        "what are my last (5|10|few|three) transactions",
        "list my {account} transactions since {date_np}",
        "show me what I spent {date_past}",
        "transaction history for my {card}",
        "what did I spend at {merchant} {date_past}",
        "show purchases on my {card} {date_past}",
        "has my paycheck hit my {account} yet",
        "pull up my statement for {date_np}",
        "recent activity on (my |){account}",
        "what went out of my {account} {date_past}",
        "my last few payments",
        "how much have I spent (on|at) {merchant} since {date_np}",
        "show all deposits into {account} since {date_np}",
        "did the {merchant} payment go through",
        "can I see my spending history",
        "list the charges on my {card}",
        "latest transactions (please|)",
        "what was my last purchase",
        "show me everything I bought {date_past}",
        "what came out of my {account} (this week|recently)",
        "see transactions from {date_np} to {date_n}",
        "show me the last (5|ten) {merchant} charges",
        "any new deposits in my {account}",
    ],
    "refund_status": [
        "where is my refund from {merchant}",
        "has my {merchant} refund come through yet",
        "when will I get my refund",
        "{merchant} said they refunded me {amount} {date_past} but I don't see it",
        "I'm still waiting on a refund of {amount}",
        "how long do refunds take to show up",
        "refund status",
        "did the {amount} refund from {merchant} post to my {card}",
        "check on my refund from {merchant}",
        "I returned something to {merchant} {date_past}, where's the money",
        "track my refund",
        "my {merchant} refund still hasn't arrived",
        "is the refund for my {merchant} order pending",
        "how do I know if {merchant} sent the refund",
        "when does the {amount} credit from {merchant} hit my account",
        "any update on the refund I was promised",
        "return credit from {merchant} is missing",
        "I haven't received my refund (from {merchant}|yet)",
        "{merchant} refunded {amount} to my {card} {date_past}, when will it show",
        "it's been two weeks and no refund from {merchant}",
        "status of my {merchant} return",
        "where's my money back from {merchant}",
    ],
    "increase_credit_limit": [
        "increase my credit limit",
        "can I get a higher limit on my {ccard}",
        "raise my {ccard} limit to {amount_big}",
        "I'd like a credit line increase",
        "bump my limit up by {amount_big}",
        "request a limit increase",
        "my credit limit is too low",
        "how do I get my spending limit raised",
        "can you up my {ccard} limit",
        "I need more credit on my {ccard}",
        "increase the limit on my {ccard} to {amount_big} please",
        "am I eligible for a higher credit limit",
        "credit limit increase",
        "extend my credit limit before the holidays",
        "what would it take to raise my limit to {amount_big}",
        "double my credit limit",
        "make my {ccard} limit bigger",
        "apply for a credit limit increase of {amount_big}",
        "my {ccard} keeps getting declined because I hit the limit, can you raise it",
        "I want my limit increased",
        "higher credit line on my {ccard} (please|)",
        "could my limit go up to {amount_big}",
    ],
    "travel_notice": [
        "I'm (traveling|travelling) to {city_t} {date_fut}",
        "set a travel notice for {city_t}",
        "I'll be in {city_t} from {date_n} to {date_n}",
        "let the bank know I'm going to {city_t}",
        "going abroad {date_fut}, (please make sure my {card} works|will my {card} work)",
        "add a travel alert on my {card} for {city_t}",
        "heading to {city_t} {date_fut}, please don't block my card",
        "I'm flying to {city_t} {date_fut}",
        "travel notification",
        "just so you know I'll be using my {card} in {city_t}",
        "I'll be overseas {date_fut}",
        "trip to {city_t} {date_fut}, need my card to work there",
        "put a travel note on my account for {city_t}",
        "vacation in {city_t} from {date_n} until {date_n}",
        "I'm visiting {city_t} and then {city_t} {date_fut}",
        "going to (Japan|Italy|Mexico|Portugal) {date_fut}",
        "I'll be out of the country {date_fut}",
        "notify fraud prevention that I'm in {city_t} (this week|until {date_n})",
        "add a travel plan: {city_t}, {date_n} to {date_n}",
        "work trip to {city_t} {date_fut}, I'll use my {card}",
        "I'm going on holiday to {city_t}",
        "traveling internationally {date_fut}, do I need to tell you",
    ],
    "find_atm": [
        "where is the nearest atm",
        "find an atm (near me|close by)",
        "atm in {city}",
        "are there any atms (in|around) {city}",
        "where can I withdraw cash in {city}",
        "closest cash machine",
        "I need an atm that takes deposits",
        "fee free atm in {city}?",
        "show atms around {city}",
        "where can I get cash out without fees",
        "is there an atm at the {city} airport",
        "nearest atm to me please",
        "locate a cash point in {city_t}",
        "what atms can I use in {city_t} without a charge",
        "find me an ATM",
        "any of your machines in {city}",
        "where can I deposit a check at an atm in {city}",
        "where can I use my {card} to take out cash in {city}",
        "atm nearby?",
        "which atm near {city} downtown is open 24 hours",
        "I need cash, where's an atm",
        "list atms close to me in {city}",
    ],
    "branch_hours": [
        "what time does the {city} branch open",
        "branch hours",
        "when do you close {date_branch}",
        "are you open {date_branch}",
        "is the {city} branch open {date_branch}",
        "opening hours for your {city} location",
        "what are your hours {date_branch}",
        "how late is the {city} branch open",
        "is the bank open {date_branch}",
        "when does the nearest branch open",
        "are branches open on public holidays",
        "what time do you guys close",
        "hours of the {city} office {date_branch}",
        "can I visit a branch in {city} {date_branch}",
        "is the {city} branch open late on thursdays",
        "what time does the branch on main street open",
        "is the {city} location open {date_branch}",
        "branch opening times in {city}",
        "till what time is the branch open {date_branch}",
        "are any branches in {city} open on weekends",
        "when can I walk into a branch",
    ],
    "update_contact_info": [
        "change my email to {email}",
        "update my phone number to {phone}",
        "my new number is {phone}",
        "please use {email} from now on",
        "I got a new email address",
        "update my contact details",
        "I moved, how do I change my address",
        "replace {email} with {email} on my profile",
        "change my mobile number from {phone} to {phone}",
        "new phone: {phone}",
        "set my email address to {email} and my phone to {phone}",
        "you have my old number, it's {phone} now",
        "update the email on file, it should be {email}",
        "can I change the phone number linked to my account",
        "my email changed to {email}",
        "send (statements|alerts) to {email} instead",
        "edit my contact info",
        "text me at {phone} from now on instead of my old number",
        "how do I update my mailing address",
        "my phone is now {phone} and my email is {email}",
        "please remove {phone} and add {phone}",
        "correct my email, it's {email} not {email}",
        "new email {email}",
        "switch my contact number to {phone}",
        "i changed my cell, it's {phone}",
        "update email: {email}",
        "use {email} for my e-statements",
        "email: {email}",
        "call me on {phone} instead of the old number",
        "my (cell|mobile|home phone) changed to {phone}",
        "please update my email address to {email} asap",
    ],
    "open_account": [
        "I want to open a {account_n}",
        "open a new {account_n} (for me|)",
        "how do I open an account",
        "can I start a {account_n} online",
        "sign me up for a {account_n}",
        "I'd like to open a {account_n} for my (kid|daughter|son)",
        "what do I need to open a {account_n}",
        "new account please",
        "open account",
        "set up a {account_n} with an initial deposit of {amount}",
        "I want to open a {account_n}, my email is {email}",
        "is it free to open a {account_n}",
        "apply for a {account_n}",
        "can my partner and I open a joint account together",
        "I want to become a customer and open an account",
        "send the {account_n} application to {email}",
        "open a second {account_n}",
        "I need a {account_n} for my small business",
        "how long does it take to open a {account_n}",
        "can I open a {account_n} with {amount}",
        "help me open a {account_n}",
        "open a {account_n} and send the confirmation to {email}",
        "my email is {email}, I'd like to open a {account_n}",
        "I'm interested in opening a {account_n}",
    ],
    "close_account": [
        "close my {account}",
        "I want to close my account",
        "shut down my {account}",
        "cancel my {account} (please|)",
        "how do I close a {account_n}",
        "I'm leaving the bank, close everything",
        "terminate my {account}",
        "I'd like to close my {account} and move the money to {account}",
        "please close the {account} I opened with you",
        "I don't need my {account} anymore, close it",
        "close account",
        "what's the process to close a {account_n}",
        "I'm switching banks so close my {account}",
        "permanently close my {account}",
        "end my {account}",
        "get rid of my {account}",
        "can I close my {account} online",
        "close my {account} {date_fut}",
        "I want out, please close all my accounts",
        "close the {account} we share",
        "how can I shut my {account}",
    ],
    "report_fraud": [
        "I think someone hacked my account",
        "there are charges I don't recognize on my {card}",
        "someone used my {card} without (my |)permission",
        "report fraud",
        "I got a suspicious text asking for my pin",
        "I got an email from {email_phish} asking for my password, is that you",
        "someone called me from {phone_scam} pretending to be the bank",
        "unauthorized transaction of {amount} at {merchant}",
        "my identity (was|has been) stolen",
        "there's a {amount} purchase at {merchant} I didn't make",
        "I (was|just got) scammed",
        "someone's been taking money out of my {account}",
        "fraudulent activity on my {account}",
        "I gave my card details to a fake website",
        "someone logged into my online banking from another country",
        "I think my {card} (has been|was) cloned",
        "I fell for a phishing email",
        "a caller at {phone_scam} said my account was compromised and asked for a code",
        "got a text from {phone_scam} saying my card was locked, is that real",
        "strange withdrawals from my {account} in {city_t}",
        "{amount} was taken from my {account} and it wasn't me",
        "I didn't authorize the {merchant} charges {date_past}",
        "somebody opened a credit card in my name",
        "an email from {email_phish} wants me to confirm my account, looks fake",
        "I clicked a link in an email from {email_phish} and entered my card number",
        "I got a call from {phone_scam} asking for my pin",
    ],
    "loan_rates": [
        "what are your mortgage rates",
        "current interest rate on (auto|car) loans",
        "how much interest would I pay on a {amount_big} personal loan",
        "loan rates",
        "what's the APR for a car loan",
        "rates for a home equity line of credit",
        "what rate would I get on a {amount_big} loan",
        "are your mortgage rates fixed or variable",
        "compare your 15 and 30 year mortgage rates",
        "how low are your student loan rates",
        "interest on personal loans?",
        "what kind of rate can I get to borrow {amount_big}",
        "best loan rate you offer",
        "refinance rates",
        "tell me the current rate for a {amount_big} car loan over 5 years",
        "what do you charge in interest for a boat loan",
        "mortgage rate for a first time buyer",
        "how much is the interest on a {amount_big} mortgage",
        "what's the going rate on home loans right now",
        "do you have lower rates for (existing customers|members)",
        "interest rate for a small business loan",
        "what apr would I pay on a personal loan",
    ],
    "speak_to_agent": [
        "(let me |can I |I want to )talk to a (human|real person|representative|agent)",
        "agent",
        "representative please",
        "get me a person",
        "I don't want a bot, give me a human",
        "transfer me to customer service",
        "is there a live person I can speak with",
        "call me back at {phone}",
        "have someone call me at {phone}",
        "connect me to an operator",
        "I need to speak with a manager",
        "can a human help me with this",
        "operator",
        "put me through to (support|someone real)",
        "I'd like a callback on {phone}",
        "this bot is useless, get me a person",
        "speak to agent",
        "human please",
        "I want to talk to someone, my number is {phone}",
        "is anyone real there",
        "can I chat with a live agent",
        "get a real person on the line",
        "please ring me on {phone}",
        "have an agent email me at {email}",
        "can someone phone me at {phone}",
    ],
    "affirm": [
        "(yes|yeah|yep|yup|sure|ok|okay|correct|absolutely|definitely)",
        "(yes|yeah|yep|sure|ok|okay|yup)(, please| please|, go ahead|, that's right|, do it|, correct| that works|, that's fine|, exactly|, that one)",
        "(that's right|that is correct|that's correct|sounds good|go ahead|do it|please do|that works|perfect)",
        "(you got it|for sure|sure thing|of course|exactly|affirmative|confirmed|I confirm|uh huh|mm hmm)",
        "(yes|yeah|yep), (that's|that is) (the one|it|right|correct)",
        "(correct|right|exactly|yes), go (ahead|for it)",
        "(yes|yeah) (absolutely|definitely|of course|for sure)",
        "(sounds good|perfect|great|alright), (go ahead|do it|yes)",
        "(ok|okay|sure|yes) (let's do that|let's do it|go on)",
        "(yes|yeah), I (confirm|agree|want that)",
        "that's (exactly |)what I (meant|want|need)",
        "(yes|yep|correct), (thats|that's) my (account|card)",
        "yes I did",
        "(definitely|absolutely|right), please proceed",
        "(yep|yes|ok), (confirm it|proceed)",
        # a yes that names the action offered ("Shall I block it?"): without these, "yes please
        # block it" and "go ahead and freeze it" read as deny ("cancel it", "stop it") and cancelled
        "(yes|yeah|yep|sure|ok|okay)(,|) (please |)(block|freeze|lock|order|activate|send|pay|file|submit|schedule) it( now| please| right away| for me|)",
        "(please |go ahead and |)(block|freeze|lock|order|activate|send|file|submit) it( now| please| right away| for me|)",
        "(sure|yes|ok|okay)(,|) why not",
        "(alright|all right|why not)(, go ahead| then|)",
    ],
    "deny": [
        "(no|nope|nah|negative)",
        "(no|nope|nah)(, that's wrong|, don't|, cancel that|, not that|, incorrect|, that's not right|, stop|, wrong one|, not really)",
        "(that's not right|that's wrong|incorrect|not that one|wrong|absolutely not|no way|not really)",
        "(no|nope), (don't|do not) do that",
        "(no|nah) I (don't|do not) want that",
        "(I don't think so|not now|never mind|not quite|that's not what I said)",
        "(no|nope) (that's|that is) (not it|not correct|not what I meant|the wrong one)",
        "(cancel|stop|scrap) (that|it)",
        "no no no",
        "(no|nope), I (changed my mind|didn't say that|meant something else)",
        "(not|no longer) interested",
        "(no|nah), (leave it|forget it|skip it)",
        "(definitely|certainly) not",
        "(no|nope), wrong (account|card|amount)",
        "(please don't|don't go ahead|do not proceed)",
        "(maybe later|not right now|another time|later maybe|some other time)",
        # the reason to act is gone: a card reported lost is found
        "(actually |oh |never mind, |no wait, |)(I|I've) (just |)found it( in my bag| in my car| after all|)",
    ],
    "greeting": [
        "(hi|hello|hey|hiya|howdy|yo|greetings)",
        "(hi|hello|hey|hiya)( there|, anyone there|, good morning|, how are you|, is this the bank|!)",
        "good (morning|afternoon|evening)",
        "(hi|hello|hey), good (morning|afternoon|evening)",
        "(hello|hi), I have a question",
        "(hey|hi|hello) (bank|team|bot|assistant)",
        "(is anyone there|are you there|anybody home)",
        "(hello|hi|hey), are you there",
        "(hi|hello|hey), (how's it going|what's up|how are you doing today)",
        "(morning|evening|afternoon)",
        "(hi|hello), (it's me again|I'm back)",
        "(hello|hi) hello",
        "(hi|hey|hello) can you help me",
        "(good day|g'day|hey hey)",
        "(hi|hello|hey), (quick question|I need some help|need help)",
    ],
    "goodbye": [
        "(bye|goodbye|bye bye|see ya|see you|later|cheers)",
        "(thanks|thank you|thx|cheers), (that's all|that's everything|bye|goodbye|I'm done|that's it)",
        "(that's all|that's everything|I'm done|all set|nothing else)(, thanks|, thank you|, bye|)",
        "have a (good|nice|great) (day|evening|weekend)",
        "(thanks|thank you|thank you so much) for (your|the) help",
        "(great|perfect|awesome), (thank you|thanks), bye",
        "(ok|okay|alright) (bye|goodbye|see you)",
        "(talk|speak) (later|to you later|soon)",
        "(that's all I needed|that's all for today|that's all for now)",
        "(thanks|thank you), (have a good one|take care|you've been helpful)",
        "(take care|catch you later|gotta go)",
        "(I'm|I am) (all set|done here|good now), (thanks|bye|goodbye)",
        "(thanks|thank you) (again|so much), (bye|goodbye)",
        "(no more questions|nothing more|I'm good), (thanks|bye)",
        "(bye|goodbye|bye for now), (and thanks|thanks again|appreciate it)",
    ],
    # A pause: the caller thinks, looks something up or hesitates. Never a yes: without these, a
    # model read "hmm", "um let me think" or "well" as affirm, which confirmed a pending transfer.
    "hold": [
        "(hold on|hang on|wait|one moment|one sec|one second|just a sec|just a second|just a moment)",
        "(um|uh|er|erm|hmm|hmmm|umm|uhh|uhm|mmm|ehm)",
        "(um|uh|er|hmm|so|well), (let me think|let me see|let me check|one moment|hold on|one sec)",
        "let me (think|see|check|look|think about it|check something|find it|look it up|get my card)",
        "give me (a|one) (second|sec|minute|moment)",
        "(hold on|hang on|wait)(,|) (a|one) (second|sec|minute|moment)",
        "(hold on|hang on|wait|one moment|one sec), let me (check|find it|look|get my card|grab my wallet)",
        "(I need|I'll need) a (second|minute|moment) to (think|check|find it|look)",
        "(bear with me|bear with me a second|sorry, bear with me|bear with me please)",
        "(can|could) you (hold on|wait|give me) a (second|sec|minute|moment)",
        "(I'm|I am) (still |)(thinking|checking|looking|looking for it|finding it)",
        "(sorry|oh|ah), (one moment|one sec|hold on|give me a second|let me think)",
        "(well|so|um well|uh so|so um|well um|well uh)",
        "(not sure yet|I'm not sure yet|I don't know yet), (let me think|give me a second|hold on)",
        "(just |)(a|one) (sec|second|moment|minute)(, please| please)",
        "let me (think|check|see) (for a second|a moment|a sec|real quick)",
        "(hmm|um|uh|er) let me (think|see|check)",
        "(wait|hold on|hang on) (a bit|a little|one moment please)",
        "(hold on|hang on|one moment|one sec|wait), let me (check|find|look at|grab) my (tickets|receipt|calendar|wallet|notes|itinerary)",
        "let me (look at|check|find|dig out) (the|my) (receipt|calendar|tickets|itinerary|paperwork)",
    ],
    # The caller did not hear or understand the last answer: say it again. Without these, "sorry
    # what" read as goodbye (ending the call) and "huh" as affirm (confirming a pending transfer).
    "repeat": [
        "(what|huh|pardon|pardon me|sorry|come again|say again|say what|excuse me|eh)",
        "(sorry|pardon|excuse me), (what|what was that|come again|I didn't catch that|I missed that)",
        "(can|could) you (repeat|say) that( again|)",
        "(can|could) you (say|repeat) (that|it) (again|one more time|more slowly|slower)",
        "(please |)(repeat|say) that( again| one more time|)",
        "what (was that|did you say|did you just say)",
        "I (didn't|did not) (catch|hear|get) (that|what you said|the last part)",
        "I (missed|couldn't hear) (that|what you said|the last part)",
        "(sorry|oh), (I didn't hear you|you cut out|you're breaking up)",
        "(you're|you are) breaking up",
        "(one more time|once more|again) please",
        "what was the (question|last part)",
        "(wait|sorry|huh), what did you (say|ask)",
        "(huh|what|eh), (what|come again|sorry)",
        "(can you|could you) speak (up|louder|slower|more slowly)",
        "(sorry|what), (can|could) you repeat (that|the question)",
        "(I'm sorry|sorry), (what|I didn't understand|I didn't get that)",
    ],
}

CHAT_INTENTS = ["affirm", "deny", "greeting", "goodbye", "hold", "repeat"]

# --------------------------------------------------------------------------------------------
# Out-of-scope utterances (valid and test only). {type=text} marks an entity span.
# --------------------------------------------------------------------------------------------

OOD: dict[str, list[str]] = {
    "weather": [
        "what's the weather like in {city=Boston} {date=tomorrow}",
        "is it going to rain today",
        "how cold will it get tonight",
        "do I need an umbrella this afternoon",
        "what's the forecast for the weekend",
        "will it snow in {city=Denver} {date=next week}",
        "how humid is it outside",
        "when does the heat wave end",
        "UV index right now?",
        "is there a storm warning near me",
    ],
    "recipes": [
        "how do I make banana bread",
        "give me a quick pasta recipe",
        "what can I cook with chickpeas and spinach",
        "how long do you boil an egg",
        "best way to season a cast iron pan",
        "substitute for buttermilk in pancakes",
        "what temperature should chicken be cooked to",
        "how many cups are in a quart",
        "recipe for vegan chili please",
        "how do you make crème brûlée",
    ],
    "sports": [
        "who won the game last night",
        "what's the score of the lakers game",
        "when does the world cup start",
        "how many goals has messi scored this season",
        "is the marathon route closed on sunday",
        "who's pitching for the red sox today",
        "nba standings",
        "did the patriots win",
        "when is the next formula 1 race",
        "tennis results from wimbledon",
    ],
    "music_media": [
        "play some jazz",
        "put on my workout playlist",
        "who sings this song",
        "recommend a good podcast about history",
        "what's new on tv tonight",
        "turn the volume up",
        "skip this track",
        "what movies are playing near me",
    ],
    "travel_booking": [
        "book me a flight to {city=Chicago} on friday",
        "find a hotel in {city=Lisbon} under 100 a night",
        "I need a rental car at the airport",
        "what's the cheapest train to {city=Philadelphia}",
        "cancel my hotel reservation",
        "check me in for my flight",
        "is my flight delayed",
        "how long is the layover in {city=Frankfurt}",
        "book a table for two at 7",
        "get me an uber to the airport",
    ],
    "chitchat_jokes": [
        "tell me a joke",
        "what's the meaning of life",
        "are you a robot",
        "sing me a song",
        "who made you",
        "what's your favorite color",
        "do you dream",
        "I'm bored, entertain me",
        "can you keep a secret",
        "what is love",
    ],
    "medical": [
        "I have a headache and a fever, what should I take",
        "how many ibuprofen can I take in a day",
        "book a doctor's appointment",
        "is this rash serious",
        "symptoms of a sprained ankle",
        "what's a normal blood pressure",
        "can I take allergy medicine with coffee",
        "how long is the flu contagious",
    ],
    "coding": [
        "how do I reverse a list in python",
        "fix this javascript error: undefined is not a function",
        "what's the difference between git merge and rebase",
        "write a sql query to count rows by day",
        "why is my docker container exiting immediately",
        "explain recursion to me",
        "how do I center a div",
        "regex for matching an email address",
        "my code won't compile, segmentation fault",
        "convert a string to an int in java",
    ],
    "general": [
        "how tall is the eiffel tower",
        "what's the capital of australia",
        "set an alarm for 6am",
        "remind me to call mom",
        "translate hello into japanese",
        "how many days until halloween",
        "what time is it in tokyo",
        "order me a pizza",
        "how do I get a stain out of a white shirt",
        "what's 15 percent of 80",
    ],
    "crypto_stocks": [
        "should I buy bitcoin right now",
        "is ethereum going to go up this year",
        "which crypto should I invest in",
        "what stocks should I buy",
        "is tesla stock a good buy",
        "give me a hot stock tip",
        "should I sell my nvidia shares",
        "how do I short a stock",
        "what's the price of dogecoin",
        "is it a good time to get into the stock market",
        "which meme coin will moon next",
        "should I put my savings into index funds or crypto",
    ],
    "insurance_tax": [
        "I want to file an insurance claim for my car",
        "my house flooded, how do I claim on my home insurance",
        "how much is travel insurance",
        "does my health insurance cover dental",
        "help me file my taxes",
        "when is the tax filing deadline",
        "can I deduct my home office",
        "how do I get an extension on my tax return",
        "what's my tax bracket",
        "where's my tax refund from the irs",
        "file a claim for my broken phone screen",
        "what does my renters insurance cover",
    ],
    "shopping_services": [
        "where is my package",
        "does the grocery store deliver on sundays",
        "how do I return shoes I bought online",
        "find me a cheap laptop",
        "what's a good gift for my dad",
        "cancel my gym membership",
        "how do I reset my wifi router",
        "my phone screen is cracked, where can I get it fixed",
        "what time does the post office close",
        "renew my driver's license",
    ],
    "finance_advice": [
        "how do I improve my credit score",
        "what's a good budgeting app",
        "explain how compound interest works",
        "how much should I save for retirement",
        "is a roth or traditional 401k better for me",
        "should I pay off debt or invest first",
        "what is an index fund",
        "how does inflation affect my savings",
    ],
    "other_language": [
        "Je voudrais connaître le solde de mon compte",
        "Quel temps fait-il aujourd'hui ?",
        "¿Dónde está la estación de tren?",
        "Quiero transferir dinero a mi cuenta de ahorros",
        "Ich habe meine Karte verloren",
        "Wie spät ist es?",
        "我想查一下我的账户余额",
        "今天天气怎么样",
        "Vorrei parlare con un operatore",
        "Onde fica o caixa eletrônico mais próximo?",
        "Pouvez-vous m'aider avec mon prêt ?",
        "¿Cuál es el horario de la sucursal?",
        "Ich möchte ein Konto eröffnen",
        "クレジットカードをなくしました",
        "Mi tarjeta no funciona",
        "Bonjour, je cherche une pharmacie",
        "Wo kann ich hier gut essen?",
        "我的信用卡被盗了",
        "Obrigado, até logo",
        "Kannst du mir einen Witz erzählen?",
    ],
    "gibberish": [
        "asdfghjkl",
        "qwerty uiop",
        "jjjjjjjjjj",
        "lkjsdf oiwe pqoe",
        "🙂🙂🙂",
        "zxcv bnm zxcv",
        "blorp flim flam",
        "aaaaaaaaaaaaah",
        "xkcd qwop lmao",
        "hjkl hjkl hjkl",
        "ndjs ksla wpq",
        "?????",
        "🍕🚀🐸",
        "gfgfgfgf dkdkdk",
    ],
}

# --------------------------------------------------------------------------------------------
# Surface variation
# --------------------------------------------------------------------------------------------

MISSPELL = {
    "balance": ["balnce", "balence", "ballance"], "transfer": ["transfr", "tranfer", "trasnfer"],
    "receive": ["recieve"], "received": ["recieved"], "account": ["acount", "accont"],
    "money": ["mony", "monney"], "payment": ["paymnet", "payemnt"], "please": ["pls", "plese"],
    "schedule": ["shedule", "schedual"], "activate": ["activte", "actvate"],
    "replacement": ["replacment"], "transaction": ["transacton"], "transactions": ["transations"],
    "refund": ["refnd"], "limit": ["limt"], "travel": ["trvel"], "traveling": ["travling"],
    "stolen": ["stollen"], "missing": ["misisng"], "charged": ["chargd"], "dispute": ["dispte"],
    "would": ["woud"], "change": ["chnage"], "number": ["numbr"], "address": ["adress"],
    "what": ["waht", "wat"], "there": ["ther"], "where": ["were", "wher"], "nearest": ["neares"],
    "because": ["becuase"], "interest": ["intrest"], "mortgage": ["morgage"],
    "representative": ["representitive"], "yesterday": ["yesturday"], "freeze": ["freez"],
    "immediately": ["immediatly"], "definitely": ["definately"], "thanks": ["thnks", "thansk"],
    "hello": ["helo"], "morning": ["mornin"], "something": ["somthing"], "anywhere": ["anywere"],
    "purchase": ["purchse"], "deposit": ["deposti"], "branch": ["brnach"], "close": ["clsoe"],
}
KEYBOARD = {
    "a": "sq", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "y": "tu",
}
QUESTION_WORDS = {
    "what", "what's", "whats", "how", "where", "where's", "when", "why", "which", "who", "can",
    "could", "would", "will", "is", "are", "do", "does", "did", "has", "have", "am", "any",
    "should", "may", "till",
}
VOICE_PREFIXES = ["um ", "uh ", "so ", "yeah hi um so ", "hi yeah so ", "okay so ", "hey um ",
                  "yeah ", "hello uh ", "right so ", "um yeah ", "hi um "]
VOICE_INFIXES = [" uh ", " um ", " like ", " uh like "]
POLITE_PREFIXES = ["hi, ", "hello, ", "hey, ", "hi there, ", "good morning, ",
                   "excuse me, ", "sorry to bother you, "]
POLITE_SUFFIXES = [" please", ", thanks", " thank you", " thx", " pls", ", cheers",
                   ", thank you so much", " if you can"]
RUDE_PREFIXES = ["ugh ", "seriously, ", "come on, ", "for god's sake ", "ugh, "]
RUDE_SUFFIXES = [" already", " now", "!!!", " asap", " right now!!", ", hurry up"]
EMOJI = {
    "default": [" 🙏", " 😡", " 💳", " 👍", " 🙂", " 😩", " 💸", " 🤔"],
    "travel_notice": [" ✈️", " 🌍", " 🧳"],
    "affirm": [" 👍", " ✅", " 🙂"],
    "deny": [" 👎", " ❌", " 🙅"],
    "greeting": [" 👋", " 🙂", " 😊"],
    "goodbye": [" 👋", " 🙏", " 😊"],
    "hold": [" 🤔", " ⏳"],
    "repeat": [" 🤔", " 🙉"],
}

ALT_RE = re.compile(r"\(([^()]*\|[^()]*)\)")
SLOT_RE = re.compile(r"\{(\w+)(?:=([^}]*))?\}")


class Utterance:
    """A list of [text, entity type or None] segments; offsets come from joining them.

    An entity segment may carry a third item, its gold canonical value (None: no value)."""

    def __init__(self, segments: list[list]):
        self.segments = segments

    @property
    def text(self) -> str:
        return "".join(s[0] for s in self.segments)

    def literals(self):
        return [s for s in self.segments if s[1] is None]

    def normalize(self, tidy_punct: bool = True) -> None:
        merged: list[list] = []
        for seg in self.segments:
            if seg[1] is None and merged and merged[-1][1] is None:
                merged[-1][0] += seg[0]
            elif seg[0] or seg[1] is not None:
                merged.append(list(seg))
        out: list[list] = []
        for i, seg in enumerate(merged):
            if seg[1] is None:
                t = re.sub(r"\s+", " ", seg[0])
                if tidy_punct:
                    t = re.sub(r" ([,.!?:])", r"\1", t)
                t = re.sub(r",,+", ",", t)
                if i == 0:
                    t = t.lstrip(" ,")
                if i == len(merged) - 1:
                    t = t.rstrip(" ,")
                if out and out[-1][1] is None and out[-1][0].endswith(" ") and t.startswith(" "):
                    t = t[1:]
                seg = [t, None]
            if seg[0]:
                out.append(seg)
        # a space right after an entity followed by punctuation
        for i in range(1, len(out)):
            if out[i][1] is None and out[i - 1][1] is not None:
                out[i][0] = re.sub(r"^ ([,.!?:])", r"\1", out[i][0])
        self.segments = out

    def spans(self) -> list[dict]:
        res, pos = [], 0
        for seg in self.segments:
            text, etype = seg[0], seg[1]
            if etype is not None:
                span = {"start": pos, "end": pos + len(text), "type": etype}
                value = seg[2] if len(seg) > 2 else None
                if value == EMAIL_FROM_TEXT:
                    value = email_value(text)
                if value is not None:
                    span["value"] = value
                res.append(span)
            pos += len(text)
        return res


def catalog_synonyms(domain: dict, name: str) -> dict[str, str]:
    out = {}
    for v in domain["entities"][name]["values"]:
        out[v["value"].casefold()] = v["id"]
        out[v["id"].casefold()] = v["id"]
        for s in v["synonyms"]:
            out[str(s).casefold()] = v["id"]
    return out


class Generator:
    def __init__(self, domain: dict, seed: int = SEED):
        self.domain = domain
        self.rng = random.Random(seed)
        self.catalogs = {"account": catalog_synonyms(domain, "account"),
                         "card": catalog_synonyms(domain, "card")}

    # ---- templates ----
    def resolve_alternations(self, template: str) -> str:
        while True:
            m = ALT_RE.search(template)
            if not m:
                return template
            choice = self.rng.choice(m.group(1).split("|"))
            template = template[: m.start()] + choice + template[m.end():]

    def pick_filler(self, slot: str, used: list[tuple[str, str]]):
        etype, pool = POOLS[slot]
        for _ in range(20):
            if slot in TYPO_POOLS and self.rng.random() < ENTITY_TYPO_RATE:
                filler = self.rng.choice(TYPO_POOLS[slot])
            else:
                filler = self.rng.choice(pool)
            if isinstance(filler, str):
                filler = ("", filler, "")
            key = filler[1].casefold()
            cat = self.catalogs.get(etype, {})
            ident = cat.get(key, key)
            if (etype, ident) not in used and (etype, key) not in used:
                used.append((etype, ident))
                used.append((etype, key))
                return etype, filler
        raise RuntimeError(f"cannot find a distinct filler for {slot}")

    def render(self, template: str, tidy_punct: bool = True) -> Utterance:
        past = template in PAST_CONTEXT_TEMPLATES
        text = self.resolve_alternations(template)
        segments: list[list] = []
        used: list[tuple[str, str]] = []
        pos = 0
        for m in SLOT_RE.finditer(text):
            segments.append([text[pos: m.start()], None])
            slot, literal = m.group(1), m.group(2)
            if literal is not None:
                segments.append([literal, slot, self.gold_value(slot, literal)])
            else:
                etype, (before, span, after) = self.pick_filler(slot, used)
                segments += [[before, None], [span, etype, self.gold_value(slot, span, past)], [after, None]]
            pos = m.end()
        segments.append([text[pos:], None])
        utt = Utterance(segments)
        utt.normalize(tidy_punct)
        return utt

    def gold_value(self, slot: str, text: str, past: bool = False) -> str | None:
        """The canonical value of filler `text` drawn from pool `slot` (see MONEY, DATES ...);
        `past`: the template puts a `date_n` date in the past."""
        etype = POOLS[slot][0] if slot in POOLS else slot
        if etype in self.catalogs:
            return self.catalogs[etype].get(text.casefold()) or CATALOG_TYPOS[etype][text]
        if etype == "amount":
            return MONEY[text]
        if etype == "date":
            return DATES[f"{slot}_past" if past and slot == "date_n" else slot][text]
        if etype == "phone":
            return PHONE_E164[text]
        if etype == "email":
            return EMAIL_FROM_TEXT
        return None  # merchant, city: free text

    # ---- surface variation ----
    def typo(self, utt: Utterance) -> None:
        candidates = []
        for si, seg in enumerate(utt.segments):
            text, etype = seg[0], seg[1]
            if etype is None:
                for m in re.finditer(r"[A-Za-z]{4,}", text):
                    candidates.append((si, m))
        if not candidates:
            return
        si, m = self.rng.choice(candidates)
        word = m.group(0)
        low = word.lower()
        if low in MISSPELL and self.rng.random() < 0.7:
            new = self.rng.choice(MISSPELL[low])
            if word[0].isupper():
                new = new[0].upper() + new[1:]
        else:
            i = self.rng.randrange(1, len(word) - 1)
            op = self.rng.choice(["swap", "drop", "double", "neighbour"])
            if op == "swap":
                new = word[:i] + word[i + 1] + word[i] + word[i + 2:]
            elif op == "drop":
                new = word[:i] + word[i + 1:]
            elif op == "double":
                new = word[:i] + word[i] + word[i:]
            else:
                c = word[i].lower()
                new = word[:i] + self.rng.choice(KEYBOARD.get(c, c)) + word[i + 1:]
            if new.lower() == low:
                new = word[:i] + word[i + 1:]
        text = utt.segments[si][0]
        utt.segments[si][0] = text[: m.start()] + new + text[m.end():]

    @staticmethod
    def lower_all(utt: Utterance) -> None:
        for seg in utt.segments:
            seg[0] = seg[0].lower()

    @staticmethod
    def is_question(utt: Utterance) -> bool:
        words = utt.text.lower().replace("’", "'").split()
        return bool(words) and words[0] in QUESTION_WORDS

    @staticmethod
    def capitalize(utt: Utterance) -> None:
        seg = utt.segments[0]
        seg[0] = seg[0][:1].upper() + seg[0][1:]

    def end_punct(self, utt: Utterance, question: bool) -> None:
        if utt.text[-1] in ".?!":
            return
        if question:
            mark = self.rng.choice(["?", "?", "?", "??"])
        else:
            mark = self.rng.choice([".", ".", ".", "!"])
        utt.segments.append([mark, None])

    def add_prefix(self, utt: Utterance, prefix: str) -> None:
        utt.segments.insert(0, [prefix, None])

    def add_suffix(self, utt: Utterance, suffix: str) -> None:
        if utt.text[-1] in ".?!" and suffix[:1] in ", ":
            utt.segments[-1][0] = utt.segments[-1][0].rstrip(".?!")
        utt.segments.append([suffix, None])

    def voice(self, utt: Utterance, chat: bool) -> None:
        self.lower_all(utt)
        for seg in utt.segments:
            if seg[1] is None:
                seg[0] = re.sub(r"[.,!?;:]", "", seg[0])
        if chat:
            return
        if self.rng.random() < 0.4:
            spots = [(si, m.start()) for si, (t, e, *_) in enumerate(utt.segments) if e is None
                     for m in re.finditer(" ", t)]
            if spots:
                si, at = self.rng.choice(spots)
                t = utt.segments[si][0]
                utt.segments[si][0] = t[:at] + self.rng.choice(VOICE_INFIXES) + t[at + 1:]
        if self.rng.random() < 0.7:
            self.add_prefix(utt, self.rng.choice(VOICE_PREFIXES))

    def stylize(self, intent: str, utt: Utterance) -> None:
        rng = self.rng
        chat = intent in CHAT_INTENTS
        question = self.is_question(utt)
        styles = ["plain", "sentence", "lower", "voice", "polite", "rude"]
        weights = [30, 27, 8, 15, 0 if chat else 14, 0 if chat else 6]
        style = rng.choices(styles, weights)[0]
        if style == "sentence":
            self.capitalize(utt)
            self.end_punct(utt, question)
        elif style == "lower":
            self.lower_all(utt)
        elif style == "voice":
            self.voice(utt, chat)
        elif style == "polite":
            r = rng.random()
            if r < 0.45:
                self.add_prefix(utt, rng.choice(POLITE_PREFIXES))
            elif r < 0.85:
                self.add_suffix(utt, rng.choice(POLITE_SUFFIXES))
            else:
                self.add_prefix(utt, rng.choice(POLITE_PREFIXES))
                self.add_suffix(utt, rng.choice(POLITE_SUFFIXES))
            if rng.random() < 0.5:
                self.capitalize(utt)
                self.end_punct(utt, question)
        elif style == "rude":
            if rng.random() < 0.5:
                self.add_prefix(utt, rng.choice(RUDE_PREFIXES))
            else:
                self.add_suffix(utt, rng.choice(RUDE_SUFFIXES))
            if rng.random() < 0.5:
                for seg in utt.segments:
                    seg[0] = seg[0].upper()
            if utt.text[-1] not in "!?":
                utt.segments.append([rng.choice(["!", "!!", "!!!", "?!"]), None])
        if style != "voice" and rng.random() < TYPO_RATE:
            self.typo(utt)
        if rng.random() < 0.25:
            for seg in utt.segments:
                if seg[1] is None:
                    seg[0] = seg[0].replace("'", "’")
        if rng.random() < 0.05:
            utt.segments.append([rng.choice(EMOJI.get(intent, EMOJI["default"])), None])
        utt.normalize()


def dedupe_key(text: str) -> str:
    t = text.casefold().replace("’", "'")
    t = re.sub(r"[^\w\s'$€£¥@+&-]", " ", t)
    return " ".join(t.split())


def check_domain(domain: dict) -> None:
    entity_types = set(domain["entities"])
    for name, spec in domain["intents"].items():
        for key in ("description", "slots", "required", "response", "prompts"):
            assert key in spec, f"{name}: missing {key}"
        assert set(spec["slots"]) <= entity_types, f"{name}: unknown slot"
        assert set(spec["required"]) <= set(spec["slots"]), f"{name}: required not in slots"
        assert set(spec["prompts"]) == set(spec["required"]), f"{name}: prompts != required"
        responses = spec["response"] if isinstance(spec["response"], list) else [spec["response"]]
        for ph in re.findall(r"\{(\w+)(?:\.\w+)?\}", " ".join(responses)):
            assert ph in spec["slots"], f"{name}: placeholder {ph} not in slots"
    assert sorted(domain["intents"]) == sorted(TEMPLATES), "domain.yaml and TEMPLATES disagree"
    for slot, (etype, pool) in POOLS.items():
        assert etype in entity_types, f"pool {slot}: unknown entity type {etype}"
        if etype in ("account", "card"):
            cat = catalog_synonyms(domain, etype)
            for filler in pool:
                assert filler.casefold() in cat, f"{filler!r} is not a {etype} synonym"
    for slot, pool in TYPO_POOLS.items():
        cat = catalog_synonyms(domain, POOLS[slot][0])
        for t in pool:
            assert t.casefold() not in cat, f"typo {t!r} is a real synonym"
            assert t in CATALOG_TYPOS[POOLS[slot][0]], f"typo {t!r} has no gold id in CATALOG_TYPOS"
    assert PAST_CONTEXT_TEMPLATES <= {t for ts in TEMPLATES.values() for t in ts}, "stale PAST_CONTEXT_TEMPLATES"
    assert set(DATES["date_n_past"]) == {f[1] if isinstance(f, tuple) else f for f in DATE_N}
    gold = {"amount": MONEY, "phone": PHONE_E164}
    for slot, (etype, pool) in POOLS.items():
        table = DATES[slot] if etype == "date" else gold.get(etype)
        if table is not None:
            missing = [f for f in pool if (f[1] if isinstance(f, tuple) else f) not in table]
            assert not missing, f"pool {slot}: no gold value for {missing}"
    evaluation = domain.get("evaluation") or {}
    assert evaluation.get("reference_time") == REFERENCE_TIME and evaluation.get("time_zone") == TIME_ZONE, \
        "domain.yaml evaluation: must match REFERENCE_TIME and TIME_ZONE (the gold dates assume them)"


def make_example(intent: str | None, utt: Utterance) -> dict:
    text = utt.text
    spans = utt.spans()
    for s in spans:
        frag = text[s["start"]: s["end"]]
        assert frag == frag.strip() and frag, (text, s)
    if intent is None:
        obj = {"text": text, "ood": True}
    else:
        obj = {"text": text, "intent": intent}
    if spans:
        obj["entities"] = spans
    return obj


def generate() -> dict[str, list[dict]]:
    domain = yaml.safe_load((HERE / "domain.yaml").read_text(encoding="utf-8"))
    check_domain(domain)
    gen = Generator(domain)
    rng = gen.rng
    seen: dict[str, str] = {}
    splits: dict[str, list[dict]] = {"train": [], "valid": [], "test": []}

    for intent, templates in TEMPLATES.items():
        assert len(templates) >= 15, f"{intent}: only {len(templates)} templates"
        slots = set(domain["intents"][intent]["slots"])
        pool: list[dict] = []
        rounds = 0
        wanted = PER_REPLY_INTENT if intent in ("affirm", "deny", "hold", "repeat") else PER_INTENT
        while len(pool) < wanted and rounds < 200:
            rounds += 1
            order = list(range(len(templates)))
            rng.shuffle(order)
            for ti in order:
                if len(pool) >= wanted:
                    break
                utt = gen.render(templates[ti])
                gen.stylize(intent, utt)
                key = dedupe_key(utt.text)
                if not key or key in seen:
                    continue
                ex = make_example(intent, utt)
                used = {s["type"] for s in ex.get("entities", [])}
                assert used <= slots, f"{intent}: {sorted(used - slots)} not in slots: {ex}"
                seen[key] = intent
                pool.append(ex)
        if len(pool) < 60:
            raise SystemExit(f"{intent}: only {len(pool)} distinct utterances")
        rng.shuffle(pool)
        splits["test"] += pool[:N_TEST]
        splits["valid"] += pool[N_TEST: N_TEST + N_VALID]
        splits["train"] += pool[N_TEST + N_VALID:]

    for category, lines in OOD.items():
        items = []
        for line in lines:
            utt = gen.render(line, tidy_punct=False)
            key = dedupe_key(utt.text) or utt.text
            if key in seen:
                raise SystemExit(f"duplicate out-of-scope line: {line!r}")
            seen[key] = "ood"
            items.append(make_example(None, utt))
        rng.shuffle(items)
        first = "valid" if len(splits["valid"]) <= len(splits["test"]) else "test"
        second = "test" if first == "valid" else "valid"
        splits[first] += items[0::2]
        splits[second] += items[1::2]

    for name in splits:
        rng.shuffle(splits[name])
    return splits


def main() -> int:
    splits = generate()
    for name, rows in splits.items():
        path = HERE / f"{name}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as out:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    for name, rows in splits.items():
        ood = sum(1 for r in rows if r.get("ood"))
        ents = Counter(e["type"] for r in rows for e in r.get("entities", []))
        print(f"{name}: {len(rows)} lines ({len(rows) - ood} in scope, {ood} out of scope); "
              f"entities: {dict(sorted(ents.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
