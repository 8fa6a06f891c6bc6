"""
Text classification: TF-IDF and the CV estimator
================================================

A pipeline of scikit-learn's ``TfidfVectorizer`` and
:class:`~sksvmnet.SVMNetClassifierCV` chooses C by cross-validation in one ``fit``:
each fold follows the regularization path from the strongest penalty to the weakest,
each C starting from the solution at the C before it. The documents are generated here
from four topics' vocabularies mixed with common words, so the example downloads nothing.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from sksvmnet import SVMNetClassifierCV

rng = np.random.default_rng(0)
topics = {
    "sport": "match goal team league coach striker keeper season cup derby score "
             "injury transfer referee stadium fans",
    "finance": "market shares bank rates inflation profit bond yield investors stock "
               "currency budget earnings debt fund",
    "science": "cell gene protein experiment theory quantum particle climate species "
               "telescope neuron molecule lab data",
    "cooking": "recipe oven garlic sauce flour butter simmer roast spice onion pasta "
               "bake salt pepper dough",
}
common = ("the a of and to in is it for on with as was at by this that from are be "
          "has new year said more after about people time").split()
vocabularies = {name: words.split() for name, words in topics.items()}
names = list(topics)


def document(topic):
    """A bag of 10 to 30 words: a third from the topic, a tenth from another topic."""
    words = []
    for _ in range(rng.integers(10, 30)):
        draw = rng.random()
        if draw < 0.33:
            words.append(rng.choice(vocabularies[topic]))
        elif draw < 0.43:
            words.append(rng.choice(vocabularies[names[rng.integers(4)]]))
        else:
            words.append(rng.choice(common))
    return " ".join(words)


labels = rng.choice(names, size=3000)
texts = [document(label) for label in labels]
X_train, X_test, y_train, y_test = train_test_split(texts, labels, random_state=0)

Cs = np.logspace(-3, 2, 8)
folds = StratifiedKFold(5, shuffle=True, random_state=0)
pipe = make_pipeline(TfidfVectorizer(), SVMNetClassifierCV(Cs=Cs, cv=folds))
pipe.fit(X_train, y_train)
search = pipe[-1]
print(f"chosen C = {search.C_:.3g}; test accuracy {pipe.score(X_test, y_test):.3f}")

# %%
# The same search by GridSearchCV over LinearSVC, on the same folds, chooses the same C:
# both fit the same model at each C.
grid = GridSearchCV(make_pipeline(TfidfVectorizer(), LinearSVC()),
                    {"linearsvc__C": Cs}, cv=folds).fit(X_train, y_train)
print(f"GridSearchCV(LinearSVC) chose C = {grid.best_params_['linearsvc__C']:.3g}")

fig, ax = plt.subplots(figsize=(6, 4))
mean, std = search.scores_.mean(axis=0), search.scores_.std(axis=0)
ax.semilogx(search.Cs_, mean, "o-", label="SVMNetClassifierCV")
ax.fill_between(search.Cs_, mean - std, mean + std, alpha=0.2)
ax.semilogx(Cs, grid.cv_results_["mean_test_score"], "x--",
            label="GridSearchCV(LinearSVC)")
ax.axvline(search.C_, color="k", lw=0.8, ls=":", label=f"C_ = {search.C_:.3g}")
ax.set_xlabel("C")
ax.set_ylabel("mean accuracy over the 5 folds")
ax.legend()
fig.tight_layout()
