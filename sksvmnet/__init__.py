"""sksvmnet: linear SVMs, logistic regression and the networks built on them.

A single layer trained with the hinge loss is a linear SVM and with the log loss is
logistic regression; hidden layers under either give a network trained end to end through
the same primal objective (Tang 2013, "Deep Learning using Linear Support Vector
Machines"). Both estimators follow scikit-learn's API.
"""

from ._cv import LogisticNetClassifierCV, SVMNetClassifierCV
from ._logistic import LogisticNetClassifier
from ._svm import SVMNetClassifier

__version__ = "0.1.0"

__all__ = ["LogisticNetClassifier", "LogisticNetClassifierCV", "SVMNetClassifier",
           "SVMNetClassifierCV", "__version__"]
