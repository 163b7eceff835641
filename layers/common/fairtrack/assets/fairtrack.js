/* placeholder until web/ builds the snippet */
